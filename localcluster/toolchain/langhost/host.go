package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/contract"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
)

const (
	// The Python SDK reads the stack's configuration, as a JSON object, from this variable...
	configEnv = "PULUMI_CONFIG"
	// ...and the keys of the secret values in it, as a JSON array, from this one.
	configSecretKeysEnv = "PULUMI_CONFIG_SECRET_KEYS" //nolint:gosec // a variable name, not a secret

	// The exec shim exits with this code after it has shown the user an error (e.g. the traceback of an
	// exception in the program); the engine must then not add a message of its own.
	exitAfterShowingMessage = 32
)

// host implements pulumirpc.LanguageRuntimeServer. The embedded Unimplemented server answers the RPCs
// we leave out (GenerateProject, GenerateProgram, GeneratePackage, Pack, Link, Template, Cancel) with
// codes.Unimplemented, which the engine handles. RunPlugin (policy packs) is in policy.go.
type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	exec          string // the exec shim (or the -use-executor script)
	engineAddress string // from the command line, or from Handshake when the engine attached to us
	tracing       string
	flags         hostFlags
	cancel        context.CancelFunc // stops serving; the health check calls it when the engine goes away
}

// Handshake is the engine's first call. It carries the engine's address, which matters when the host
// was started without one (attach mode).
func (h *host) Handshake(ctx context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	if h.engineAddress == "" {
		h.engineAddress = req.GetEngineAddress()
		if err := rpcutil.Healthcheck(context.Background(), h.engineAddress, 5*time.Minute, h.cancel); err != nil {
			return nil, fmt.Errorf("could not start the engine health check: %w", err)
		}
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

// options turns a request's ProgramInfo (Pulumi.yaml's runtime options plus the project's directories)
// into the SDK toolchain's options. Options the project does not set fall back to our flags.
func (h *host) options(info *pulumirpc.ProgramInfo) (toolchain.PythonOptions, error) {
	opts := toolchain.PythonOptions{Root: info.GetRootDirectory(), ProgramDir: info.GetProgramDirectory()}
	if opts.Root == "" {
		opts.Root = h.flags.root
	}
	raw := map[string]any{}
	if info.GetOptions() != nil {
		raw = info.GetOptions().AsMap()
	}
	str := func(key, fallback string) (string, error) {
		v, ok := raw[key]
		if !ok {
			return fallback, nil
		}
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("the %s option must be a string", key)
		}
		return s, nil
	}

	var err error
	if opts.Virtualenv, err = str("virtualenv", h.flags.virtualenv); err != nil {
		return opts, err
	}
	tc, err := str("toolchain", h.flags.toolchain)
	if err != nil {
		return opts, err
	}
	switch tc {
	case "":
		opts.Toolchain = toolchain.Auto
	case "pip":
		opts.Toolchain = toolchain.Pip
	case "poetry":
		opts.Toolchain = toolchain.Poetry
	case "uv":
		opts.Toolchain = toolchain.Uv
	default:
		return opts, fmt.Errorf("unsupported toolchain option: %s", tc)
	}
	checker, err := str("typechecker", h.flags.typechecker)
	if err != nil {
		return opts, err
	}
	switch checker {
	case "":
		opts.Typechecker = toolchain.TypeCheckerNone
	case "mypy":
		opts.Typechecker = toolchain.TypeCheckerMypy
	case "pyright":
		opts.Typechecker = toolchain.TypeCheckerPyright
	default:
		return opts, fmt.Errorf("unsupported typechecker option: %s", checker)
	}
	return opts, nil
}

func (h *host) toolchain(info *pulumirpc.ProgramInfo) (toolchain.PythonOptions, toolchain.Toolchain, error) {
	opts, err := h.options(info)
	if err != nil {
		return opts, nil, err
	}
	tc, err := toolchain.ResolveToolchain(opts)
	return opts, tc, err
}

// Run runs the program: `<python> -u <exec shim> --monitor ... <entry point> <args>`, with the python of
// the project's virtualenv (or toolchain) and the stack's configuration in the environment.
func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	if req.GetAttachDebugger() {
		return &pulumirpc.RunResponse{Error: "this Python language host does not support attaching a debugger"}, nil
	}
	opts, tc, err := h.toolchain(req.GetInfo())
	if err != nil {
		return nil, err
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return nil, err
	}
	if err := typecheck(ctx, tc, opts); err != nil {
		return nil, err
	}

	cmd, err := tc.Command(ctx, append([]string{"-u", h.exec}, h.execArgs(req)...)...)
	if err != nil {
		return nil, err
	}
	// Always set both, as JSON object and array: a JSON null breaks the SDK, and an absent variable would
	// let one inherited from our environment through.
	configMap := req.GetConfig()
	if configMap == nil {
		configMap = map[string]string{}
	}
	config, err := json.Marshal(configMap)
	if err != nil {
		return nil, fmt.Errorf("failed to serialize configuration: %w", err)
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secretKeysJSON, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, fmt.Errorf("failed to serialize configuration secret keys: %w", err)
	}
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, configEnv+"="+string(config), configSecretKeysEnv+"="+string(secretKeysJSON))
	// The engine reads our stdout and stderr and shows them as the program's output.
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	logging.V(5).Infof("language host launching process: %s", strings.Join(cmd.Args, " "))

	err = cmd.Run()
	if err == nil {
		return &pulumirpc.RunResponse{}, nil
	}
	contract.IgnoreError(os.Stdout.Sync())
	contract.IgnoreError(os.Stderr.Sync())
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		return &pulumirpc.RunResponse{
			Error: fmt.Sprintf("problem executing program (could not run language executor): %v", err),
		}, nil
	}
	if status, ok := exitErr.Sys().(syscall.WaitStatus); ok {
		switch {
		case status.Exited() && status.ExitStatus() == exitAfterShowingMessage:
			return &pulumirpc.RunResponse{Bail: true}, nil
		case status.Exited():
			return &pulumirpc.RunResponse{
				Error: fmt.Sprintf("program exited with non-zero exit code: %d", status.ExitStatus()),
			}, nil
		}
	}
	return &pulumirpc.RunResponse{Error: fmt.Sprintf("program exited unexpectedly: %v", exitErr)}, nil
}

// execArgs are the exec shim's arguments (see its argparse definition in the SDK).
func (h *host) execArgs(req *pulumirpc.RunRequest) []string {
	var args []string
	add := func(k, v string) {
		if v != "" {
			args = append(args, "--"+k, v)
		}
	}
	add("monitor", req.GetMonitorAddress())
	add("engine", h.engineAddress)
	add("project", req.GetProject())
	add("root_directory", req.GetInfo().GetRootDirectory())
	add("stack", req.GetStack())
	add("pwd", req.GetPwd())
	add("dry_run", strconv.FormatBool(req.GetDryRun()))
	add("parallel", strconv.Itoa(int(req.GetParallel())))
	add("tracing", h.tracing)
	add("organization", req.GetOrganization())

	entry := req.GetInfo().GetEntryPoint()
	if entry == "" {
		entry = req.GetProgram() //nolint:staticcheck // older engines only set this one
	}
	if entry == "" {
		entry = "."
	}
	return append(append(args, entry), req.GetArgs()...)
}

// typecheck runs mypy or pyright over the program first, if the project asks for it.
func typecheck(ctx context.Context, tc toolchain.Toolchain, opts toolchain.PythonOptions) error {
	var name string
	switch opts.Typechecker {
	case toolchain.TypeCheckerMypy:
		name = "mypy"
	case toolchain.TypeCheckerPyright:
		name = "pyright"
	default:
		return nil
	}
	args := []string{"-m", name}
	if name == "mypy" {
		venv, err := tc.VirtualEnvPath(ctx)
		if err != nil {
			return err
		}
		if venv != "" {
			rel, err := filepath.Rel(opts.ProgramDir, venv)
			if err != nil {
				return err
			}
			args = append(args, "--exclude", rel)
		}
	}
	cmd, err := tc.Command(ctx, append(args, opts.ProgramDir)...)
	if err != nil {
		return err
	}
	cmd.Dir = opts.ProgramDir
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s failed (is it installed in the project's environment?): %w", name, err)
	}
	return nil
}

// GetRequiredPackages lists the resource plugins the program needs, from the Pulumi packages installed
// in its environment (e.g. pulumi-kubernetes ships pulumi_kubernetes/pulumi-plugin.json). It creates the
// virtualenv first if the project names one that does not exist yet, as upstream does.
func (h *host) GetRequiredPackages(ctx context.Context, req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	pkgs, err := h.requiredPackages(ctx, req.GetInfo())
	if err != nil {
		return nil, err
	}
	return &pulumirpc.GetRequiredPackagesResponse{Packages: pkgs}, nil
}

// GetRequiredPlugins is the deprecated form of GetRequiredPackages, for engines that still call it.
func (h *host) GetRequiredPlugins(ctx context.Context, req *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	pkgs, err := h.requiredPackages(ctx, req.GetInfo())
	if err != nil {
		return nil, err
	}
	plugins := make([]*pulumirpc.PluginDependency, 0, len(pkgs))
	for _, p := range pkgs {
		if p.GetParameterization() == nil && p.GetExtension() == nil {
			plugins = append(plugins, &pulumirpc.PluginDependency{
				Name: p.GetName(), Kind: p.GetKind(), Version: p.GetVersion(), Server: p.GetServer(),
			})
		}
	}
	return &pulumirpc.GetRequiredPluginsResponse{Plugins: plugins}, nil
}

func (h *host) requiredPackages(ctx context.Context, info *pulumirpc.ProgramInfo,
) ([]*pulumirpc.PackageDependency, error) {
	_, tc, err := h.toolchain(info)
	if err != nil {
		return nil, err
	}
	stdout, stderr, closer, err := h.engineWriters(ctx)
	if err != nil {
		return nil, err
	}
	defer contract.IgnoreClose(closer)
	if err := tc.EnsureVenv(ctx, info.GetProgramDirectory(), false, true, stdout, stderr); err != nil {
		return nil, err
	}
	return pulumiPackages(ctx, tc)
}

// engineWriters returns writers that show their output as ephemeral engine log messages, for the output
// of a virtualenv creation triggered outside InstallDependencies.
func (h *host) engineWriters(ctx context.Context) (io.Writer, io.Writer, io.Closer, error) {
	if h.engineAddress == "" {
		return io.Discard, io.Discard, io.NopCloser(nil), nil
	}
	conn, err := grpc.NewClient(h.engineAddress,
		grpc.WithTransportCredentials(insecure.NewCredentials()), rpcutil.GrpcChannelOptions())
	if err != nil {
		return nil, nil, nil, fmt.Errorf("language host could not make connection to engine: %w", err)
	}
	engine := pulumirpc.NewEngineClient(conn)
	stream := rand.Int32() //nolint:gosec // a stream id, not a secret
	out := &logWriter{ctx, engine, stream, pulumirpc.LogSeverity_INFO}
	errw := &logWriter{ctx, engine, stream, pulumirpc.LogSeverity_ERROR}
	return out, errw, conn, nil
}

type logWriter struct {
	ctx      context.Context
	engine   pulumirpc.EngineClient
	streamID int32
	severity pulumirpc.LogSeverity
}

func (w *logWriter) Write(p []byte) (int, error) {
	_, err := w.engine.Log(w.ctx, &pulumirpc.LogRequest{
		Message:   strings.ToValidUTF8(string(p), "\uFFFD"),
		Ephemeral: true,
		StreamId:  w.streamID,
		Severity:  w.severity,
	})
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// InstallDependencies creates the virtualenv and installs requirements.txt or pyproject.toml into it with
// the project's toolchain, streaming the output back to the engine (`pulumi install`, `pulumi new`, and
// the Automation API's install).
func (h *host) InstallDependencies(req *pulumirpc.InstallDependenciesRequest,
	server grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse],
) error {
	opts, err := h.options(req.GetInfo())
	if err != nil {
		return err
	}
	// Plugins always get a virtualenv; programs may use the ambient python (upstream does the same).
	if req.GetIsPlugin() && opts.Toolchain == toolchain.Pip && opts.Virtualenv == "" {
		opts.Virtualenv = "venv"
	}
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return err
	}
	closer, stdout, stderr, err := rpcutil.MakeInstallDependenciesStreams(server, req.GetIsTerminal())
	if err != nil {
		return err
	}
	defer contract.IgnoreClose(closer)

	fmt.Fprint(stdout, "Installing dependencies...\n\n")
	if err := tc.InstallDependencies(server.Context(), req.GetInfo().GetProgramDirectory(),
		req.GetUseLanguageVersionTools(), true, stdout, stderr); err != nil {
		return err
	}
	return closer.Close()
}

// RuntimeOptionsPrompts asks nothing: our projects set their runtime options in Pulumi.yaml.
func (h *host) RuntimeOptionsPrompts(context.Context, *pulumirpc.RuntimeOptionsRequest,
) (*pulumirpc.RuntimeOptionsResponse, error) {
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}

// About reports the python executable and version (`pulumi about`).
func (h *host) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	tc, err := toolchain.ResolveToolchain(toolchain.PythonOptions{Toolchain: toolchain.Pip})
	if req.GetInfo() != nil {
		_, tc, err = h.toolchain(req.GetInfo())
	}
	if err != nil {
		return nil, err
	}
	info, err := tc.About(ctx)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.AboutResponse{Executable: info.PythonExecutable, Version: info.PythonVersion.String()}, nil
}

// GetProgramDependencies lists the Python packages of the program's environment (`pulumi about`).
func (h *host) GetProgramDependencies(ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	_, tc, err := h.toolchain(req.GetInfo())
	if err != nil {
		return nil, err
	}
	pkgs, err := tc.ListPackages(ctx, req.GetTransitiveDependencies())
	if err != nil {
		return nil, fmt.Errorf("failed to get python dependencies: %w", err)
	}
	deps := make([]*pulumirpc.DependencyInfo, len(pkgs))
	for i, p := range pkgs {
		deps[i] = &pulumirpc.DependencyInfo{Name: p.Name, Version: p.Version}
	}
	return &pulumirpc.GetProgramDependenciesResponse{Dependencies: deps}, nil
}
