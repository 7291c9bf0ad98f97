package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sdk "github.com/pulumi/pulumi/sdk/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/contract"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
)

// The pulumi SDK's policy runner: `python -m pulumi.policy <engine args...> <pack dir>` reads the stack from
// these variables, applies the configuration and runs the pack's __main__.py, whose PolicyPack(...) serves the
// Analyzer service and prints its port.
const policyRunner = "pulumi.policy"

// packEnvNames are the variables the policy runner reads; they are always set from the engine's stack
// configuration (or cleared), never inherited.
var packEnvNames = []string{
	configEnv, configSecretKeysEnv, "PULUMI_ORGANIZATION", "PULUMI_PROJECT", "PULUMI_STACK", "PULUMI_DRY_RUN",
}

// checkPackDependencies prints what the pack's python cannot import, without importing it (a pack's import
// starts grpc and takes a while). pulumi.policy ships with the pulumi SDK from 3.222 on.
const checkPackDependencies = `import importlib.util as u, os
missing = [] if u.find_spec("pulumi_policy") else ["pulumi-policy"]
spec = u.find_spec("pulumi")
dirs = (spec.submodule_search_locations or []) if spec else []
if not any(os.path.isfile(os.path.join(d, "policy", "__main__.py")) for d in dirs):
    missing.append("pulumi (a version with pulumi.policy, 3.222 or newer)")
print(", ".join(missing))`

// RunPlugin runs a plugin written in Python. Only policy packs (kind "analyzer") are supported: the engine
// starts a local pack, a directory with PulumiPolicy.yaml, through the language host its runtime names.
//
// The engine reads the first line of the plugin's stdout as the port of an Analyzer service and then calls
// ConfigureStack with the stack, its configuration and whether this is a preview. The policy runner takes
// those from the environment when it starts, so (as upstream's hosts do) a proxy answers first: it prints
// its own port, waits for ConfigureStack, and only then the pack is started with that environment; the proxy
// forwards every later call to the pack. Everything that can be checked before the proxy prints its port is
// checked first (virtualenv, __main__.py, the pulumi-policy package), so that a broken pack fails with a
// message saying what is missing instead of an engine waiting on a proxy whose pack never comes up.
func (h *host) RunPlugin(req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer) error {
	ctx := server.Context()
	if req.GetKind() != string(apitype.AnalyzerPlugin) {
		return status.Errorf(codes.Unimplemented,
			"this Python language host runs policy packs (analyzer plugins) only, not %q plugins", req.GetKind())
	}
	if req.GetAttachDebugger() {
		return errors.New("this Python language host does not support attaching a debugger to a policy pack")
	}
	pack, err := h.preparePack(ctx, req.GetInfo())
	if err != nil {
		return err
	}
	logging.V(5).Infof("RunPlugin: policy pack %s, virtualenv %q", pack.dir, pack.venv)

	closer, stdout, stderr, err := rpcutil.MakeRunPluginStreams(server, false)
	if err != nil {
		return err
	}
	defer contract.IgnoreClose(closer)

	proxy, packStdout, err := sdk.NewPolicyProxy(ctx, stdout)
	if err != nil {
		return fmt.Errorf("could not start the policy pack proxy: %w", err)
	}
	stack, err := proxy.AwaitConfiguration(ctx)
	if err != nil {
		proxy.Abort(err)
		return fmt.Errorf("waiting for the engine's stack configuration: %w", err)
	}
	env, err := packEnv(pack.baseEnv(req.GetEnv()), stack)
	if err != nil {
		proxy.Abort(err)
		return err
	}

	args := append([]string{"-u", "-m", policyRunner}, req.GetArgs()...)
	cmd, err := pack.tc.Command(ctx, append(args, pack.dir)...)
	if err != nil {
		proxy.Abort(err)
		return err
	}
	cmd.Dir = pack.dir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = packStdout, stderr
	logging.V(5).Infof("RunPlugin: launching %s", strings.Join(cmd.Args, " "))
	if err := cmd.Start(); err != nil {
		err = fmt.Errorf("could not start policy pack %s: %w", pack.dir, err)
		proxy.Abort(err)
		return err
	}

	// Attach returns once the pack has exited (the engine kills it by cancelling the stream's context), or
	// early when it cannot reach the pack (it printed no port, or something else first).
	attachErr := proxy.Attach(ctx, cmd)
	if ctx.Err() != nil {
		return nil // the engine is done with the pack
	}
	var code int32
	var exitErr *exec.ExitError
	switch {
	case attachErr == nil:
	case errors.As(attachErr, &exitErr):
		code = int32(exitErr.ExitCode()) //nolint:gosec // exit codes fit in 8 bits
	default:
		contract.IgnoreError(cmd.Process.Kill()) // may have exited already; the proxy reaps it
		return fmt.Errorf("policy pack %s: %w", pack.dir, attachErr)
	}
	if err := server.Send(&pulumirpc.RunPluginResponse{
		Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: code},
	}); err != nil {
		return err
	}
	return closer.Close()
}

// policyPack is a pack that passed the preflight checks.
type policyPack struct {
	dir  string // the pack's directory (absolute, holds PulumiPolicy.yaml and __main__.py)
	venv string // its virtualenv, "" for the ambient python of a non-pip toolchain
	tc   toolchain.Toolchain
}

// preparePack resolves the pack's python and checks that it can run the pack.
func (h *host) preparePack(ctx context.Context, info *pulumirpc.ProgramInfo) (*policyPack, error) {
	opts, err := h.options(info)
	if err != nil {
		return nil, err
	}
	dir := info.GetProgramDirectory()
	if dir == "" {
		return nil, errors.New("the engine did not say where the policy pack is (no program directory)")
	}
	// A pack always gets a virtualenv (as upstream): by default "venv" in the pack's directory.
	if (opts.Toolchain == toolchain.Pip || opts.Toolchain == toolchain.Auto) && opts.Virtualenv == "" {
		opts.Toolchain, opts.Virtualenv = toolchain.Pip, "venv"
	}
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return nil, err
	}
	venv, err := tc.VirtualEnvPath(ctx)
	if err != nil {
		return nil, err
	}
	pack := &policyPack{dir: dir, venv: venv, tc: tc}
	if venv != "" && !toolchain.IsVirtualEnv(venv) {
		return nil, missingVirtualenv(dir, opts.Virtualenv, venv)
	}
	if _, err := os.Stat(filepath.Join(dir, "__main__.py")); err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("policy pack %s has no __main__.py: the pack's PolicyPack(...) is defined there", dir)
		}
		return nil, fmt.Errorf("policy pack %s: looking for __main__.py: %w", dir, err)
	}
	check, err := tc.Command(ctx, "-c", checkPackDependencies)
	if err != nil {
		return nil, err
	}
	check.Dir = dir
	out, err := check.Output()
	if err != nil {
		var exitErr *exec.ExitError
		detail := err.Error()
		if errors.As(err, &exitErr) && len(exitErr.Stderr) > 0 {
			detail = strings.TrimSpace(string(exitErr.Stderr))
		}
		return nil, fmt.Errorf("policy pack %s: its python %s does not run: %s", dir, check.Path, detail)
	}
	if missing := strings.TrimSpace(string(out)); missing != "" {
		return nil, fmt.Errorf("policy pack %s: its environment lacks %s; install the pack's dependencies "+
			"(`pulumi install` in %s, or `%s -m pip install -r requirements.txt` there)",
			dir, missing, dir, check.Path)
	}
	return pack, nil
}

func missingVirtualenv(dir, option, path string) error {
	state := "is not a virtualenv"
	if _, err := os.Stat(path); os.IsNotExist(err) {
		state = "does not exist"
	}
	return fmt.Errorf("policy pack %s: its virtualenv %s (the virtualenv option %q in PulumiPolicy.yaml) %s; "+
		"create it with `pulumi install` in %s, or `python3 -m venv %s && %s -m pip install -r %s`",
		dir, path, option, state, dir, path, filepath.Join(path, "bin", "python"),
		filepath.Join(dir, "requirements.txt"))
}

// baseEnv is the environment the engine asks for (its own when it sends none), with the pack's virtualenv
// activated.
func (p *policyPack) baseEnv(engine []string) []string {
	if len(engine) == 0 {
		engine = os.Environ()
	}
	env := make([]string, 0, len(engine))
	for _, kv := range engine {
		if strings.Contains(kv, "=") { // ActivateVirtualEnv insists on KEY=VALUE
			env = append(env, kv)
		}
	}
	if p.venv != "" {
		env = toolchain.ActivateVirtualEnv(env, p.venv)
	}
	return env
}

// packEnv sets the policy runner's variables from the engine's ConfigureStack request: the organization,
// project, stack, preview flag, configuration (a JSON object) and the keys of its secrets (a JSON array).
// Without a request (`pulumi policy analyze` configures no stack) the pack gets an empty configuration. An
// inherited value of one of these variables never reaches the pack.
func packEnv(base []string, stack *pulumirpc.AnalyzerStackConfigureRequest) ([]string, error) {
	env := make([]string, 0, len(base)+len(packEnvNames))
	for _, kv := range base {
		name, _, _ := strings.Cut(kv, "=")
		if !isPackEnvName(name) {
			env = append(env, kv)
		}
	}
	config := stack.GetConfig()
	if config == nil {
		config = map[string]string{}
	}
	configJSON, err := json.Marshal(config)
	if err != nil {
		return nil, fmt.Errorf("failed to serialize the stack configuration: %w", err)
	}
	secretKeys := stack.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secretKeysJSON, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, fmt.Errorf("failed to serialize the stack's secret keys: %w", err)
	}
	env = append(env, configEnv+"="+string(configJSON), configSecretKeysEnv+"="+string(secretKeysJSON))
	if stack == nil {
		return env, nil
	}
	add := func(name, value string) {
		if value != "" {
			env = append(env, name+"="+value)
		}
	}
	add("PULUMI_ORGANIZATION", stack.GetOrganization())
	add("PULUMI_PROJECT", stack.GetProject())
	add("PULUMI_STACK", stack.GetStack())
	add("PULUMI_DRY_RUN", strconv.FormatBool(stack.GetDryRun()))
	return env, nil
}

func isPackEnvName(name string) bool {
	for _, n := range packEnvNames {
		if name == n {
			return true
		}
	}
	return false
}
