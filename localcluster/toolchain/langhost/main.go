// pulumi-language-python is the language host the Pulumi engine starts for `runtime: python` projects.
//
// Why this exists: upstream's host lives in its own Go module
// (github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3), which the Go module proxy we can
// reach does not serve, and we build every Pulumi binary from that proxy. So this is a small
// reimplementation on top of what the proxy does serve: the SDK module github.com/pulumi/pulumi/sdk/v3,
// whose python/toolchain package holds the real virtualenv/pip/uv/poetry logic, and whose proto package
// defines the LanguageRuntime gRPC service. Programs are run the upstream way, through the SDK's
// `pulumi-language-python-exec` shim installed next to this binary, so the Python side cannot tell the
// difference. Policy packs (CrossGuard, `--policy-pack DIR`) run through RunPlugin with the SDK's
// `python -m pulumi.policy` (policy.go). Code generation RPCs (convert, package gen, pack, link, templates)
// are not implemented: they need the much larger pkg/v3 codegen and are not used to deploy.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// version is stamped at build time with -ldflags "-X main.version=vX.Y.Z".
var version string

// execShim is the SDK's Python entry point, installed next to this binary.
const execShim = "pulumi-language-python-exec"

// hostFlags are the flags this host understands. The engine passes --tracing and, when logging flows to
// plugins, --logtostderr and -v=N (both registered by glog, which the SDK's logging package imports).
// --virtualenv, --root, --toolchain and --typechecker are what older engines passed instead of the
// runtime options in ProgramInfo; they are kept as defaults for options a request does not carry.
type hostFlags struct {
	tracing, virtualenv, root, toolchain, typechecker, executor string
}

func main() {
	var f hostFlags
	flag.StringVar(&f.tracing, "tracing", "", "Emit tracing to a Zipkin-compatible tracing endpoint")
	flag.StringVar(&f.virtualenv, "virtualenv", "", "Default virtualenv, relative to -root (obsolete)")
	flag.StringVar(&f.root, "root", "", "Default project root (obsolete)")
	flag.StringVar(&f.toolchain, "toolchain", "", "Default toolchain: pip, poetry or uv (obsolete)")
	flag.StringVar(&f.typechecker, "typechecker", "", "Default typechecker: mypy or pyright (obsolete)")
	flag.StringVar(&f.executor, "use-executor", "", "Run programs with this script instead of the exec shim")
	if err := flag.CommandLine.Parse(knownFlags(flag.CommandLine, os.Args[1:])); err != nil {
		cmdutil.Exit(err)
	}
	logging.InitLogging(false, 0, false)
	cmdutil.InitTracing("pulumi-language-python", "pulumi-language-python", f.tracing)

	exec := f.executor
	if exec == "" {
		self, err := os.Executable()
		if err != nil {
			cmdutil.Exit(fmt.Errorf("could not determine current executable: %w", err))
		}
		exec = filepath.Join(filepath.Dir(self), execShim)
		if _, err := os.Stat(exec); err != nil {
			cmdutil.Exit(fmt.Errorf("missing executor %s: %w", exec, err))
		}
	}

	// The engine's address is the last positional argument; it is absent when a debugger starts the host
	// and the engine attaches later, in which case Handshake supplies it.
	var engineAddress string
	if args := flag.Args(); len(args) > 0 {
		engineAddress = args[len(args)-1]
	}

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	stop := make(chan bool)
	go func() {
		<-ctx.Done()
		close(stop)
	}()
	if engineAddress != "" {
		// Stop serving (and so exit) once the engine is gone, rather than linger as an orphan.
		if err := rpcutil.Healthcheck(ctx, engineAddress, 5*time.Minute, cancel); err != nil {
			cmdutil.Exit(fmt.Errorf("could not start health check host RPC server: %w", err))
		}
	}

	h := &host{exec: exec, engineAddress: engineAddress, tracing: f.tracing, flags: f, cancel: cancel}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: stop,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, h)
			return nil
		},
		Options: rpcutil.OpenTracingServerInterceptorOptions(nil),
	})
	if err != nil {
		cmdutil.Exit(fmt.Errorf("could not start language host RPC server: %w", err))
	}

	// The engine reads the port from the first line of our stdout.
	fmt.Printf("%d\n", handle.Port)

	if err := <-handle.Done; err != nil {
		cmdutil.Exit(fmt.Errorf("language host RPC stopped serving: %w", err))
	}
}

// knownFlags drops the flags fs does not define, so that a newer engine passing a flag we do not know
// cannot stop the host from starting (the flag package would exit on it). An unknown flag is assumed to
// carry its value inline (-name=value) or to be boolean; everything from the first positional argument
// on is kept as is.
func knownFlags(fs *flag.FlagSet, args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" || arg == "-" || !strings.HasPrefix(arg, "-") {
			return append(out, args[i:]...)
		}
		name, _, inline := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		f := fs.Lookup(name)
		if f == nil {
			logging.V(3).Infof("ignoring unknown flag %q", arg)
			continue
		}
		out = append(out, arg)
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !inline && !(ok && b.IsBoolFlag()) && i+1 < len(args) {
			i++
			out = append(out, args[i])
		}
	}
	return out
}
