"""MySQL replication: per-flavor SQL and commands, server ids, read-only replicas, services and secrets."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from apps import mysql
from apps.config import ConfigError
from apps.mysql_scripts import CONF_DIR, SCRIPTS_DIR, MySQLFlavor, change_source_sql, script_files
from conftest import Parse, Render
from policy.render import Rendering

MARIADB = {"mysql": {"flavor": "mariadb", "image": "stateful.local/mariadb:10.11"}}
TRICKY_PASSWORD = 'it\'s a "quoted" \\ pass & 100%'


def files_of(flavor: MySQLFlavor, primary_ordinal: int = 0, app_database: str = "app") -> dict[str, str]:
    return script_files(
        flavor,
        statefulset="mysql",
        peer_domain="mysql.mysql.svc.cluster.local",
        primary_ordinal=primary_ordinal,
        primary_host=f"mysql-{primary_ordinal}.mysql.mysql.svc.cluster.local",
        net_write_timeout=10,
        innodb_buffer_pool_size="256M",
        app_database=app_database,
    )


def pod(rendering: Rendering) -> Mapping[str, Any]:
    spec: Mapping[str, Any] = rendering.named("StatefulSet", "mysql").spec["template"]["spec"]
    return spec


def containers(rendering: Rendering) -> dict[str, Mapping[str, Any]]:
    spec = pod(rendering)
    return {item["name"]: item for item in [*spec.get("initContainers", []), *spec["containers"]]}


def config_files(rendering: Rendering) -> Mapping[str, str]:
    data: Mapping[str, str] = rendering.config_files("mysql-config").props["data"]
    return data


def run_init_config(tmp_path: Path, flavor: MySQLFlavor, hostname: str, primary_ordinal: int = 0,
                    app_database: str = "app") -> Path:
    """Run init-config.sh for ``hostname`` against files in ``tmp_path``; return its option-file directory."""
    scripts, conf = tmp_path / "scripts", tmp_path / "conf"
    scripts.mkdir()
    conf.mkdir()
    (tmp_path / "hostname").write_text(f"{hostname}\n")
    for name, text in files_of(flavor, primary_ordinal, app_database).items():
        local = text.replace(SCRIPTS_DIR + "/", f"{scripts}/").replace(CONF_DIR, str(conf))
        (scripts / name).write_text(local.replace("/proc/sys/kernel/hostname", str(tmp_path / "hostname")))
    environment = {"MYSQL_ROOT_PASSWORD": TRICKY_PASSWORD, "MYSQL_REPLICATION_PASSWORD": "repl",
                   "MYSQL_APP_PASSWORD": "app's pass", "PATH": "/usr/bin:/bin"}
    subprocess.run(["bash", str(scripts / "init-config.sh")], check=True, env=environment, capture_output=True)
    return conf


@pytest.mark.parametrize("flavor", list(MySQLFlavor))
def test_every_script_is_valid_bash(flavor: MySQLFlavor) -> None:
    for name, text in files_of(flavor).items():
        if name.endswith(".sh"):
            subprocess.run(["bash", "-n"], input=text, text=True, check=True)


@pytest.mark.parametrize(("hostname", "server_id"), [("mysql-0", 100), ("mysql-2", 102)])
def test_the_server_id_is_100_plus_the_ordinal(tmp_path: Path, hostname: str, server_id: int) -> None:
    conf = run_init_config(tmp_path, MySQLFlavor.MARIADB, hostname)
    assert (conf / "my.cnf").read_text().splitlines()[-1] == f"server-id = {server_id}"


def test_the_first_ordinal_gets_the_primary_options(tmp_path: Path) -> None:
    text = (run_init_config(tmp_path, MySQLFlavor.MYSQL, "mysql-0") / "my.cnf").read_text()
    assert "net-write-timeout = 10" in text
    assert "read-only = ON" not in text


def test_other_ordinals_get_the_read_only_replica_options(tmp_path: Path) -> None:
    text = (run_init_config(tmp_path, MySQLFlavor.MYSQL, "mysql-1") / "my.cnf").read_text()
    assert "read-only = ON" in text
    assert "super-read-only = ON" in text
    assert "net-write-timeout" not in text


def test_the_primary_follows_ordinals_start(tmp_path: Path) -> None:
    text = (run_init_config(tmp_path, MySQLFlavor.MARIADB, "mysql-3", primary_ordinal=3) / "my.cnf").read_text()
    assert "net-write-timeout = 10" in text
    assert "server-id = 103" in text


def test_root_credentials_are_quoted_and_private(tmp_path: Path) -> None:
    client = run_init_config(tmp_path, MySQLFlavor.MARIADB, "mysql-1") / "client.cnf"
    assert 'password = "it\'s a \\"quoted\\" \\\\ pass & 100%"' in client.read_text().splitlines()
    assert client.stat().st_mode & 0o077 == 0
    assert client.read_text().count("[mariabackup]") == 1


def test_the_init_file_sets_the_application_password_quoted_on_every_start(tmp_path: Path) -> None:
    init = (run_init_config(tmp_path, MySQLFlavor.MARIADB, "mysql-2") / "init.sql").read_text().splitlines()
    assert "CREATE DATABASE IF NOT EXISTS `app`;" in init
    assert "ALTER USER 'app'@'%' IDENTIFIED BY 'app''s pass';" in init
    assert "GRANT ALL PRIVILEGES ON `app`.* TO 'app'@'%';" in init
    assert init[0] == "SET sql_log_bin = 0;"
    assert init[-1] == "SET sql_log_bin = 1;"


@pytest.mark.parametrize(
    ("value", "quoted"),
    [("plain", "'plain'"), ("it's", "'it''s'"), ("back\\slash", "'back\\\\slash'"), ("a&b%s", "'a&b%s'")],
)
def test_sql_strings_are_quoted_for_the_server(value: str, quoted: str) -> None:
    library = files_of(MySQLFlavor.MARIADB)["lib.sh"].replace(
        "read -r HOST < /proc/sys/kernel/hostname", "HOST=mysql-0"
    )
    result = subprocess.run(
        ["bash", "-c", f'{library}\nsql_string "$1"', "bash", value], check=True, capture_output=True, text=True
    )
    assert result.stdout == quoted


def test_mariadb_replicates_by_gtid_slave_pos() -> None:
    sql = change_source_sql(MySQLFlavor.MARIADB)
    assert 'CHANGE MASTER TO MASTER_HOST = $(sql_string "$PRIMARY_HOST")' in sql
    assert "MASTER_USE_GTID = slave_pos" in sql
    assert 'MASTER_PASSWORD = $(sql_string "$MYSQL_REPLICATION_PASSWORD")' in sql
    assert "START SLAVE;" in sql


def test_mysql_replicates_by_gtid_auto_position() -> None:
    sql = change_source_sql(MySQLFlavor.MYSQL)
    assert 'CHANGE REPLICATION SOURCE TO SOURCE_HOST = $(sql_string "$PRIMARY_HOST")' in sql
    assert "SOURCE_AUTO_POSITION = 1" in sql
    assert "START REPLICA;" in sql


def test_a_mariadb_replica_clones_a_peer_backup_over_socat_after_answering_its_challenge() -> None:
    script = files_of(MySQLFlavor.MARIADB)["init-data.sh"]
    assert 'coproc DONOR { socat "TCP:$donor:$BACKUP_PORT,connect-timeout=30" STDIO; }' in script
    assert 'challenge_answer "$nonce" >&"$to"' in script
    assert 'mbstream -x -C "$DATADIR" <&"$from"' in script
    assert 'mariadb-backup --defaults-file="$CONF/my.cnf" --prepare --target-dir="$DATADIR"' in script


@pytest.mark.parametrize("flavor", list(MySQLFlavor))
def test_a_replica_clones_the_most_advanced_member_not_a_fixed_ordinal(flavor: MySQLFlavor) -> None:
    script = files_of(flavor)["init-data.sh"]
    assert "ORDINAL - 1" not in script
    replica_branch = script.split("\nelse\n", 1)[1]
    # Any member that answers, the most advanced first: a new set's primary has no history yet.
    assert 'read -r donor history <<< "$(most_advanced_peer -1)"' in replica_branch
    assert 'clone_from "$donor"' in replica_branch


def test_a_mariadb_replica_starts_from_the_gtid_of_its_backup() -> None:
    script = files_of(MySQLFlavor.MARIADB)["replication.sh"]
    assert '"$DATADIR/mariadb_backup_binlog_info" "$DATADIR/xtrabackup_binlog_info"' in script
    assert 'SET GLOBAL gtid_slave_pos = $(sql_string "$gtid");' in script


def test_a_mariadb_member_serves_backups_from_its_sidecar() -> None:
    files = files_of(MySQLFlavor.MARIADB)
    assert 'socat TCP-LISTEN:"$BACKUP_PORT",reuseaddr,fork EXEC:"bash /scripts/backup.sh",nofork' in files[
        "replication.sh"]
    assert "--backup --stream=xbstream" in files["backup.sh"]


def test_a_mysql_replica_clones_with_the_clone_plugin() -> None:
    files = files_of(MySQLFlavor.MYSQL)
    assert "CLONE INSTANCE FROM 'clone'@$(sql_string \"$donor\"):$MYSQL_PORT" in files["init-data.sh"]
    assert "plugin-load-add = mysql_clone.so" in files["server.cnf"]
    assert "backup.sh" not in files


def test_mysql_enables_gtids_with_enforced_consistency() -> None:
    lines = files_of(MySQLFlavor.MYSQL)["server.cnf"].splitlines()
    assert "gtid-mode = ON" in lines
    assert "enforce-gtid-consistency = ON" in lines


def test_mariadb_logs_binary_gtids_strictly() -> None:
    lines = files_of(MySQLFlavor.MARIADB)["server.cnf"].splitlines()
    assert "log-bin = mysql-bin" in lines
    assert "gtid-strict-mode = ON" in lines
    assert "log-slave-updates = ON" in lines


def test_mariadb_replicas_are_read_only_for_every_account_but_local_root() -> None:
    files = files_of(MySQLFlavor.MARIADB)
    assert "read-only = ON" in files["replica.cnf"]
    assert "super-read-only" not in files["replica.cnf"]


@pytest.mark.parametrize("flavor", list(MySQLFlavor))
def test_root_logs_in_only_through_the_socket(flavor: MySQLFlavor) -> None:
    files = files_of(flavor)
    assert "'root'@'%'" not in files["init-data.sh"]
    assert "DROP USER IF EXISTS 'root'@'%';" in files["init-config.sh"]  # live sets made by earlier versions


@pytest.mark.parametrize("flavor", list(MySQLFlavor))
def test_the_application_account_owns_only_its_database_on_every_member(flavor: MySQLFlavor) -> None:
    files = files_of(flavor)
    init = files["init-config.sh"]
    assert "APP_USER=app\n" in files["lib.sh"]
    assert "APP_DATABASE=app\n" in files["lib.sh"]
    assert 'CREATE DATABASE IF NOT EXISTS \\`$APP_DATABASE\\`;' in init
    assert 'IDENTIFIED BY $(sql_string "$MYSQL_APP_PASSWORD")' in init
    grants = [line for line in init.splitlines() if "GRANT" in line]
    assert not any("$APP_USER" in line and "*.*" in line for line in grants), grants


def test_an_underscore_in_the_database_name_is_no_wildcard_in_the_grant(tmp_path: Path) -> None:
    init = (run_init_config(tmp_path, MySQLFlavor.MARIADB, "mysql-0", app_database="my_shop") / "init.sql").read_text()
    assert "CREATE DATABASE IF NOT EXISTS `my_shop`;" in init.splitlines()
    assert "GRANT ALL PRIVILEGES ON `my\\_shop`.* TO 'app'@'%';" in init.splitlines()


def test_a_mysql_replica_falls_back_to_an_earlier_versions_remote_root_only_when_the_clone_account_is_refused() -> None:
    clone = files_of(MySQLFlavor.MYSQL)["init-data.sh"]
    first, fallback = clone.index("CLONE INSTANCE FROM 'clone'@"), clone.index("CLONE INSTANCE FROM 'root'@")
    assert first < clone.index('*"ERROR 1045"*') < fallback


def test_the_mysql_clone_account_may_only_take_backups() -> None:
    init = files_of(MySQLFlavor.MYSQL)["init-config.sh"]
    grants = [line.strip() for line in init.splitlines() if "GRANT" in line and "clone" in line]
    assert grants == ["echo \"GRANT BACKUP_ADMIN ON *.* TO 'clone'@'%';\""]
    assert "'clone'@" not in files_of(MySQLFlavor.MARIADB)["init-config.sh"]


def test_the_application_names_come_from_stack_config(rendered: Render) -> None:
    out = rendered({"mysql": {"appUser": "shop", "appDatabase": "orders"}})
    lib = config_files(out)["lib.sh"]
    assert "APP_USER=shop\n" in lib
    assert "APP_DATABASE=orders\n" in lib
    assert (out.outputs["mysql"]["app_user"], out.outputs["mysql"]["app_database"]) == ("shop", "orders")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"appUser": "root"}, r"stateful:mysql\.appUser must not be one the set or the server keeps"),
        ({"appUser": "app-1"}, r"stateful:mysql\.appUser must be letters, digits and underscores"),
        ({"appUser": "u" * 33}, r"stateful:mysql\.appUser must be .* at most 32 characters"),
        ({"appDatabase": "mysql"}, r"stateful:mysql\.appDatabase must not be one the set or the server keeps"),
        ({"appDatabase": "a`b"}, r"stateful:mysql\.appDatabase must be letters, digits and underscores"),
    ],
)
def test_a_bad_application_name_is_refused_naming_its_key(parse: Parse, settings: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse({"mysql": settings})


def test_the_accounts_are_created_without_binary_logging() -> None:
    for flavor in MySQLFlavor:
        script = files_of(flavor)["init-data.sh"]
        assert 'echo "SET sql_log_bin = 0;"' in script
        assert "GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%';" in script


@pytest.mark.parametrize(("flavor", "binary"), [("mariadb", "mariadbd"), ("mysql", "mysqld")])
def test_the_flavor_picks_the_server_binary(rendered: Render, flavor: str, binary: str) -> None:
    settings = {"flavor": flavor, "image": "stateful.local/mariadb:10.11" if flavor == "mariadb" else "mysql:8.4.3"}
    server = containers(rendered({"mysql": settings}))["mysql"]
    assert server["command"] == [
        binary,
        "--defaults-file=/etc/mysql-stateful/my.cnf",
        "--init-file=/etc/mysql-stateful/init.sql",
    ]


def test_the_passwords_come_from_the_secret(rendered: Render) -> None:
    init = containers(rendered())["init-data"]
    from_secret = [item for item in init["env"] if "secretKeyRef" in item["valueFrom"]]
    sources = {item["name"]: item["valueFrom"]["secretKeyRef"] for item in from_secret}
    assert sources == {
        "MYSQL_ROOT_PASSWORD": {"name": "mysql-credentials", "key": "root-password"},
        "MYSQL_REPLICATION_PASSWORD": {"name": "mysql-credentials", "key": "replication-password"},
    }


def test_the_empty_primary_switch_is_read_from_a_live_config_map_not_the_template(rendered: Render) -> None:
    init = containers(rendered())["init-data"]
    (switch,) = [item for item in init["env"] if item["name"] == "RECOVER_EMPTY_PRIMARY"]
    assert switch["valueFrom"]["configMapKeyRef"] == {"name": "mysql-recovery", "key": "recover-empty-primary",
                                                      "optional": True}
    assert rendered().named("ConfigMap", "mysql-recovery").props["data"] == {"recover-empty-primary": "false"}
    recovering = rendered({"mysql": {"recoverEmptyPrimary": True}})
    assert recovering.named("ConfigMap", "mysql-recovery").props["data"] == {"recover-empty-primary": "true"}
    assert containers(recovering)["init-data"] == init


def test_an_empty_primary_refuses_while_a_peer_holds_history(rendered: Render) -> None:
    script = rendered().config_files("mysql-config").props["data"]["init-data.sh"]
    assert "REFUSING TO START AN EMPTY PRIMARY" in script
    assert 'refuse_empty_primary "$donor" "$history"' in script


def test_credentials_live_on_a_memory_backed_volume(rendered: Render) -> None:
    volumes = {volume["name"]: volume for volume in pod(rendered())["volumes"]}
    assert volumes["conf"]["emptyDir"] == {"medium": "Memory"}


def test_the_sidecar_is_ready_once_replication_is_configured(rendered: Render) -> None:
    sidecar = containers(rendered())["replication"]
    assert sidecar["readinessProbe"]["exec"]["command"] == ["test", "-f", "/tmp/replication-ready"]


def test_only_mariadb_exposes_the_backup_port(rendered: Render) -> None:
    assert "ports" not in containers(rendered())["replication"]
    mariadb = rendered(MARIADB)
    assert containers(mariadb)["replication"]["ports"] == [{"name": "backup", "containerPort": 3307}]
    assert mariadb.outputs["mysql"]["ports"] == {"mysql": 3306, "backup": 3307}


def test_net_write_timeout_is_configurable(custom: Rendering) -> None:
    assert "net-write-timeout = 5" in config_files(custom)["primary.cnf"]


def test_the_buffer_pool_size_is_configurable(custom: Rendering) -> None:
    assert "innodb-buffer-pool-size = 1G" in config_files(custom)["server.cnf"].splitlines()


def test_the_read_service_spans_every_member_and_the_primary_service_one(rendered: Render) -> None:
    rendering = rendered()
    read = rendering.named("Service", "mysql-read").spec["selector"]
    primary = rendering.named("Service", "mysql-primary").spec["selector"]
    assert read == {"app.kubernetes.io/name": "mysql", "app.kubernetes.io/instance": "mysql"}
    assert primary == {**read, "statefulset.kubernetes.io/pod-name": "mysql-0"}


def test_the_primary_service_can_be_left_out(custom: Rendering) -> None:
    assert "mysql-primary" not in {service.metadata["name"] for service in custom.of_kind("Service")}


def test_the_primary_is_the_first_ordinal(custom: Rendering) -> None:
    assert custom.outputs["mysql"]["primary_dns"] == "mysql-1.mysql.coordination.svc.example.internal"
    assert "PRIMARY_ORDINAL=1" in config_files(custom)["lib.sh"].splitlines()


def test_the_output_names_the_primary_the_read_service_and_the_secret(rendered: Render) -> None:
    outputs = rendered().outputs["mysql"]
    assert outputs["flavor"] == "mysql"
    assert outputs["primary_dns"] == "mysql-0.mysql.mysql.svc.cluster.local"
    assert outputs["read_service"] == "mysql-read"
    assert outputs["secret"] == {
        "name": "mysql-credentials",
        "root_password_key": "root-password",
        "replication_password_key": "replication-password",
        "app_password_key": "app-password",
    }
    assert (outputs["app_user"], outputs["app_database"]) == ("app", "app")


def test_mariadb_needs_its_own_image(parse: Parse) -> None:
    with pytest.raises(ConfigError, match=r"stateful:mysql\.image must be a MariaDB image when flavor is mariadb"):
        parse({"mysql": {"flavor": "mariadb"}})


@pytest.mark.parametrize(
    ("image", "path", "name"),
    [
        ("mysql:8.4.3", "mysql", "mysql"),
        ("docker.io/library/mariadb:10.11", "library/mariadb", "mariadb"),
        ("stateful.local/mariadb:10.11", "mariadb", "mariadb"),
        ("localhost:5000/db/mariadb:11.4", "db/mariadb", "mariadb"),
        ("localhost/mariadb:11.4", "mariadb", "mariadb"),
        ("container-registry.oracle.com/mysql/community-server:8.4", "mysql/community-server", "community-server"),
        ("percona/percona-server@sha256:" + "a" * 64, "percona/percona-server", "percona-server"),
    ],
)
def test_the_repository_drops_registry_tag_and_digest(image: str, path: str, name: str) -> None:
    assert mysql.repository(image) == (path, name)


@pytest.mark.parametrize(
    ("flavor", "image"),
    [
        ("mariadb", "docker.io/library/mariadb:10.11"),
        ("mariadb", "quay.io/mariadb-foundation/mariadb-devel:11.4"),
        ("mysql", "mysql:8.4.3"),
        ("mysql", "container-registry.oracle.com/mysql/community-server:8.4"),
        ("mysql", "percona/percona-server:8.4"),
    ],
)
def test_an_image_of_the_flavor_is_accepted(parse: Parse, flavor: str, image: str) -> None:
    assert parse({"mysql": {"flavor": flavor, "image": image}}).mysql.workload.image == image


def test_a_buffer_pool_of_three_quarters_of_the_container_memory_is_accepted(parse: Parse) -> None:
    assert parse({"mysql": {"innodbBufferPoolSize": "1536M"}}).mysql.innodb_buffer_pool_size == "1536M"


def test_without_a_memory_limit_the_buffer_pool_is_held_to_the_request(parse: Parse) -> None:
    resources = {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {}}
    with pytest.raises(
        ConfigError, match=r"innodbBufferPoolSize must be <= 768M \(75% of the container memory request"
    ):
        parse({"mysql": {"innodbBufferPoolSize": "1G", "resources": resources}})


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"netWriteTimeout": 0}, "stateful:mysql.netWriteTimeout must be between 1 and 3600"),
        ({"innodbBufferPoolSize": "1 GB"}, "stateful:mysql.innodbBufferPoolSize must be a size like 256M"),
        (
            {"innodbBufferPoolSize": "2G"},
            r"stateful:mysql.innodbBufferPoolSize must be <= 1536M \(75% of the container memory limit 2Gi",
        ),
        ({"flavor": "postgres"}, "stateful:mysql.flavor must be one of mariadb, mysql"),
    ],
)
def test_bad_server_settings_are_rejected(parse: Parse, settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse({"mysql": settings})


def test_commits_are_durable_and_binary_logs_expire(rendered: Render) -> None:
    server = rendered().config_files("mysql-config").props["data"]["server.cnf"]
    assert "sync-binlog = 1" in server
    assert "innodb-flush-log-at-trx-commit = 1" in server
    assert "binlog-expire-logs-seconds = 604800" in server
    short = rendered({"mysql": {"binlogExpireDays": 2}}).config_files("mysql-config").props["data"]["server.cnf"]
    assert "binlog-expire-logs-seconds = 172800" in short


def test_a_binlog_expiry_of_zero_days_is_refused(parse: Parse) -> None:
    with pytest.raises(ConfigError) as error:
        parse({"mysql": {"binlogExpireDays": 0}})
    assert str(error.value).startswith("stateful:mysql.binlogExpireDays must be between 1 and 99 days")


# --- replication-aware readiness, reconnects, the clone port ----------------------------------------

HEALTHY_STATUS = """*************************** 1. row ***************************
                Slave_IO_State: Waiting for master to send event
                   Master_Host: mysql-0.mysql.mysql.svc.cluster.local
              Slave_IO_Running: Yes
             Slave_SQL_Running: Yes
                 Last_IO_Errno: 0
                 Last_IO_Error:
                Last_SQL_Error:
         Seconds_Behind_Master: 0
"""


def run_probe(tmp_path: Path, status: str, hostname: str = "mysql-1", max_lag: int = 30) -> tuple[int, str]:
    """Run probe.sh ready on ``hostname`` with a stub client that prints ``status`` for SHOW SLAVE STATUS."""
    scripts, bin_dir = tmp_path / "scripts", tmp_path / "bin"
    scripts.mkdir()
    bin_dir.mkdir()
    (tmp_path / "hostname").write_text(f"{hostname}\n")
    (tmp_path / "status").write_text(status)
    files = script_files(
        MySQLFlavor.MARIADB,
        statefulset="mysql",
        peer_domain="mysql.mysql.svc.cluster.local",
        primary_ordinal=0,
        primary_host="mysql-0.mysql.mysql.svc.cluster.local",
        net_write_timeout=10,
        innodb_buffer_pool_size="256M",
        max_replica_lag_seconds=max_lag,
    )
    for name, text in files.items():
        local = text.replace(SCRIPTS_DIR + "/", f"{scripts}/")
        (scripts / name).write_text(local.replace("/proc/sys/kernel/hostname", str(tmp_path / "hostname")))
    stub = bin_dir / "mariadb"
    stub.write_text(f'#!/bin/bash\ncase "$*" in *"SHOW SLAVE STATUS"*) cat {tmp_path / "status"} ;; esac\n')
    stub.chmod(0o755)
    done = subprocess.run(["bash", str(scripts / "probe.sh"), "ready"], env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
                          capture_output=True, text=True, check=False)
    return done.returncode, done.stdout + done.stderr


def test_a_replicating_replica_within_the_lag_bound_is_ready(tmp_path: Path) -> None:
    code, output = run_probe(tmp_path, HEALTHY_STATUS)
    assert (code, output.strip()) == (0, "ready: replicating from mysql-0.mysql.mysql.svc.cluster.local, 0 s behind")


def test_a_replica_with_a_stopped_thread_is_not_ready_and_says_why(tmp_path: Path) -> None:
    status = HEALTHY_STATUS.replace("Slave_IO_Running: Yes", "Slave_IO_Running: Connecting").replace(
        "Last_IO_Error:", "Last_IO_Error: Access denied for user 'repl'")
    code, output = run_probe(tmp_path, status.replace("Seconds_Behind_Master: 0", "Seconds_Behind_Master: NULL"))
    assert code == 1
    assert "not ready: replication from mysql-0.mysql.mysql.svc.cluster.local is not running" in output
    assert "IO thread Connecting, SQL thread Yes, last IO error: 'Access denied for user 'repl''" in output


def test_a_replica_further_behind_than_max_replica_lag_is_not_ready(tmp_path: Path) -> None:
    code, output = run_probe(tmp_path, HEALTHY_STATUS.replace("Seconds_Behind_Master: 0", "Seconds_Behind_Master: 31"))
    assert (code, output.strip()) == (1, "not ready: 31 s behind the primary (at most 30 s: maxReplicaLagSeconds)")


def test_a_server_that_is_not_a_replica_yet_is_not_ready_on_a_replica_ordinal(tmp_path: Path) -> None:
    code, output = run_probe(tmp_path, "")
    assert (code, output.strip()) == (1, "not ready: not configured as a replica yet")


def test_the_primary_is_ready_when_it_answers_a_query(tmp_path: Path) -> None:
    code, _ = run_probe(tmp_path, "", hostname="mysql-0")
    assert code == 0


def test_max_replica_lag_seconds_is_validated(parse: Parse) -> None:
    assert parse({"mysql": {"maxReplicaLagSeconds": 5}}).mysql.max_replica_lag_seconds == 5
    with pytest.raises(ConfigError) as error:
        parse({"mysql": {"maxReplicaLagSeconds": 0}})
    assert str(error.value).startswith("stateful:mysql.maxReplicaLagSeconds must be between 1 and 86400 seconds")


def test_replicas_notice_a_lost_primary_in_seconds_and_never_give_up() -> None:
    mariadb, mysql_files = files_of(MySQLFlavor.MARIADB), files_of(MySQLFlavor.MYSQL)
    assert "slave-net-timeout = 3\nmaster-retry-count = 4294967295\n" in mariadb["replica.cnf"]
    assert "MASTER_CONNECT_RETRY = 1, MASTER_HEARTBEAT_PERIOD = 1;" in mariadb["replication.sh"]
    assert "replica-net-timeout = 3\n" in mysql_files["replica.cnf"]
    assert "SOURCE_RETRY_COUNT = 4294967295" in mysql_files["replication.sh"]
    assert "SOURCE_HEARTBEAT_PERIOD = 1" in mysql_files["replication.sh"]


def test_members_find_each_other_whether_ready_or_not(rendered: Render) -> None:
    headless = rendered(MARIADB).named("Service", "mysql").spec
    assert headless["publishNotReadyAddresses"] is True


def test_a_replica_refused_the_rotated_password_falls_back_to_the_last_that_worked() -> None:
    script = files_of(MySQLFlavor.MARIADB)["replication.sh"]
    assert '[ "$errno" = 1045 ]' in script
    assert 'CHANGE MASTER TO MASTER_PASSWORD = $(sql_string "$1");' in script
    assert "save_password" in script


def test_the_backup_port_streams_only_after_a_correct_answer_one_at_a_time(tmp_path: Path) -> None:
    backup = files_of(MySQLFlavor.MARIADB)["backup.sh"]
    challenge, refuse, lock, stream = (backup.index(text) for text in (
        'echo "CHALLENGE $nonce"', "echo REFUSED", "flock -n 9", "exec mariadb-backup"))
    assert challenge < refuse < lock < stream
    lib = files_of(MySQLFlavor.MARIADB)["lib.sh"]
    (tmp_path / "lib.sh").write_text(lib.replace("/proc/sys/kernel/hostname", str(tmp_path / "hostname")))
    (tmp_path / "hostname").write_text("mysql-1\n")

    def answer(secret: str) -> str:
        script = f'source {tmp_path / "lib.sh"}; challenge_answer abc123'
        env = {"PATH": "/usr/bin:/bin", "MYSQL_REPLICATION_PASSWORD": secret}
        return subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, check=True).stdout
    assert answer("s3cret") == answer("s3cret") != answer("other")
    assert len(answer("s3cret").strip()) == 64


def run_most_advanced_peer(tmp_path: Path, positions: dict[str, str], minimum: str) -> str:
    """most_advanced_peer from init-data.sh, peers from a stub getent, positions from a stub client."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "hostname").write_text("mysql-1\n")
    script = files_of(MySQLFlavor.MARIADB)["init-data.sh"]
    functions = script[script.index("peer_history() {"):script.index("refuse_empty_primary() {")]
    lib = files_of(MySQLFlavor.MARIADB)["lib.sh"].replace("/proc/sys/kernel/hostname", str(tmp_path / "hostname"))
    (tmp_path / "run.sh").write_text(f'{lib}\n{functions}\nmost_advanced_peer {minimum}\n')
    lines = "".join(f"{address} STREAM x\n" for address in positions)
    (bin_dir / "getent").write_text(f"#!/bin/bash\nprintf '{lines}'\n")
    cases = "".join(f'*--host={address}*) echo "{pos}" ;;\n' for address, pos in positions.items() if pos != "down")
    (bin_dir / "mariadb").write_text(f'#!/bin/bash\ncase "$*" in\n{cases}*) exit 1 ;;\nesac\n')
    for stub in ("getent", "mariadb"):
        (bin_dir / stub).chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "MYSQL_REPLICATION_PASSWORD": "x"}
    done = subprocess.run(["bash", str(tmp_path / "run.sh")], env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_the_donor_is_the_member_with_the_most_history(tmp_path: Path) -> None:
    peers = {"10.0.0.1": "0-100-5", "10.0.0.2": "0-100-9", "10.0.0.3": "down"}
    assert run_most_advanced_peer(tmp_path, peers, "-1") == "10.0.0.2 9"


def test_a_new_sets_primary_without_history_is_a_donor_but_never_stops_an_empty_primary(tmp_path: Path) -> None:
    peers = {"10.0.0.1": "", "10.0.0.3": "down"}
    assert run_most_advanced_peer(tmp_path, peers, "-1") == "10.0.0.1 0"
    (tmp_path / "second").mkdir()
    assert run_most_advanced_peer(tmp_path / "second", peers, "") == ""
