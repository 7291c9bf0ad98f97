package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/errutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
)

// listDistributions prints the installed distributions the program's python can import, with the
// directory each is installed in. Upstream's host gets the same from `python -m pip list -v --format
// json`; asking importlib.metadata instead also works in uv environments, which have no pip.
const listDistributions = `import importlib.metadata as m, json, sys
json.dump([{"name": d.metadata["Name"], "version": d.version, "location": str(d.locate_file(""))}
           for d in m.distributions() if d.metadata["Name"]], sys.stdout)`

// Packages named like Pulumi packages that have no plugin (as upstream's host lists them).
var withoutPlugin = map[string]bool{"pulumi-policy": true, "pulumi-esc-sdk": true}

type distribution struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Location string `json:"location"`
}

// pulumiPackages finds the Pulumi packages installed in the toolchain's environment and the resource
// plugin each needs. A package is a Pulumi package if it ships `<module>/pulumi-plugin.json` or is
// named pulumi-*. The plugin's name and version come from that file, else from the package's name
// (minus "pulumi-") and version. Packages whose file says `"resource": false` need no plugin.
func pulumiPackages(ctx context.Context, tc toolchain.Toolchain) ([]*pulumirpc.PackageDependency, error) {
	cmd, err := tc.Command(ctx, "-c", listDistributions)
	if err != nil {
		return nil, err
	}
	out, err := cmd.Output()
	if err != nil {
		return nil, errutil.ErrorWithStderr(err, "listing the installed python packages")
	}
	var dists []distribution
	if err := json.Unmarshal(out, &dists); err != nil {
		return nil, fmt.Errorf("parsing the installed python packages: %w", err)
	}

	seen := map[string]bool{}
	var pkgs []*pulumirpc.PackageDependency
	for _, d := range dists {
		name := normalizeName(d.Name)
		if seen[name] || withoutPlugin[name] {
			continue // the first of two installs of a package is the one python imports
		}
		seen[name] = true

		file := filepath.Join(d.Location, strings.ReplaceAll(name, "-", "_"), "pulumi-plugin.json")
		meta, err := plugin.LoadPulumiPluginJSON(file)
		switch {
		case os.IsNotExist(err):
			if !strings.HasPrefix(name, "pulumi-") {
				continue
			}
			meta = &plugin.PulumiPluginJSON{Resource: true}
		case err != nil:
			return nil, fmt.Errorf("reading %s: %w", file, err)
		case !meta.Resource:
			continue
		}

		dep := &pulumirpc.PackageDependency{
			Kind:             "resource",
			Name:             meta.Name,
			Version:          meta.Version,
			Server:           meta.Server,
			Parameterization: parameterization(meta.Parameterization),
			Extension:        parameterization(meta.ExtensionParameterization),
		}
		if dep.Name == "" {
			dep.Name = strings.TrimPrefix(name, "pulumi-")
		}
		if dep.Version == "" {
			if dep.Version, err = pluginVersion(d.Version); err != nil {
				// e.g. a dev build whose plugin version cannot be derived: let the engine find it.
				logging.V(5).Infof("skipping %s: %v", name, err)
				continue
			}
		}
		if !strings.HasPrefix(dep.Version, "v") {
			dep.Version = "v" + dep.Version
		}
		logging.V(5).Infof("package %s %s needs plugin %s %s", name, d.Version, dep.Name, dep.Version)
		pkgs = append(pkgs, dep)
	}
	return pkgs, nil
}

func parameterization(p *plugin.PulumiParameterizationJSON) *pulumirpc.PackageParameterization {
	if p == nil {
		return nil
	}
	return &pulumirpc.PackageParameterization{Name: p.Name, Version: p.Version, Value: p.Value}
}

var separators = regexp.MustCompile(`[-_.]+`)

// normalizeName is the PEP 503 normal form of a distribution name ("Pulumi_Kubernetes" -> "pulumi-kubernetes").
func normalizeName(name string) string {
	return separators.ReplaceAllString(strings.ToLower(name), "-")
}

var pep440 = regexp.MustCompile(`^(\d+(?:\.\d+)*)(?:(a|b|rc)(\d+))?(?:\.post(\d+))?(?:\.dev(\d+))?$`)

// pluginVersion turns a PEP 440 package version into the plugin's semver, as upstream does:
// 1.2 -> 1.2.0, 1.2.3a4 -> 1.2.3-alpha.4, 1.2.3b4 -> 1.2.3-beta.4, 1.2.3rc4 -> 1.2.3-rc.4,
// 1.2.3.post4 -> 1.2.3+post4, 1.2.3.dev5 -> 1.2.3+dev5, 1.2.3.post4.dev5 -> 1.2.3+post4dev5.
func pluginVersion(v string) (string, error) {
	m := pep440.FindStringSubmatch(v)
	if m == nil {
		return "", fmt.Errorf("unsupported version %q", v)
	}
	release := strings.Split(m[1], ".")
	for len(release) < 3 {
		release = append(release, "0")
	}
	out := strings.Join(release, ".")
	if m[2] != "" {
		out += "-" + map[string]string{"a": "alpha", "b": "beta", "rc": "rc"}[m[2]] + "." + m[3]
	}
	var build string
	if m[4] != "" {
		build += "post" + m[4]
	}
	if m[5] != "" {
		build += "dev" + m[5]
	}
	if build != "" {
		out += "+" + build
	}
	return out, nil
}
