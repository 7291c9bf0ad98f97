package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// fakeRunPluginServer records what RunPlugin sends to the engine.
type fakeRunPluginServer struct {
	grpc.ServerStream
	ctx  context.Context
	sent []*pulumirpc.RunPluginResponse
}

func (s *fakeRunPluginServer) Context() context.Context { return s.ctx }

func (s *fakeRunPluginServer) Send(r *pulumirpc.RunPluginResponse) error {
	s.sent = append(s.sent, r)
	return nil
}

// pack lays out a policy pack directory; python, when set, becomes the body of its virtualenv's python.
func pack(t *testing.T, mainPy bool, python string) string {
	t.Helper()
	dir := t.TempDir()
	if mainPy {
		if err := os.WriteFile(filepath.Join(dir, "__main__.py"), []byte("raise SystemExit(3)\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if python != "" {
		bin := filepath.Join(dir, ".venv", "bin")
		if err := os.MkdirAll(bin, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bin, "python"), []byte(python), 0o700); err != nil { //nolint:gosec
			t.Fatal(err)
		}
	}
	return dir
}

func runPack(t *testing.T, dir, kind string) (error, *fakeRunPluginServer) {
	t.Helper()
	options, err := structpb.NewStruct(map[string]any{"virtualenv": ".venv"})
	if err != nil {
		t.Fatal(err)
	}
	server := &fakeRunPluginServer{ctx: context.Background()}
	h := &host{}
	err = h.RunPlugin(&pulumirpc.RunPluginRequest{
		Kind: kind,
		Args: []string{"127.0.0.1:1"},
		Info: &pulumirpc.ProgramInfo{RootDirectory: dir, ProgramDirectory: dir, EntryPoint: ".", Options: options},
	}, server)
	return err, server
}

func TestRunPluginRefusesOtherPluginKinds(t *testing.T) {
	err, _ := runPack(t, pack(t, true, ""), "resource")
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("RunPlugin(resource) = %v; want Unimplemented", err)
	}
}

func TestRunPluginWithoutVirtualenvSaysSoBeforePrintingAPort(t *testing.T) {
	dir := pack(t, true, "")
	err, server := runPack(t, dir, "analyzer")
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, ".venv")+" (the virtualenv option \".venv\" in "+
		"PulumiPolicy.yaml) does not exist") {
		t.Fatalf("RunPlugin = %v; want the missing virtualenv named", err)
	}
	if len(server.sent) != 0 {
		t.Fatalf("RunPlugin sent %d messages before failing; the engine would wait on a port", len(server.sent))
	}
}

func TestRunPluginWithoutMainPySaysSo(t *testing.T) {
	err, server := runPack(t, pack(t, false, "#!/bin/sh\nexit 0\n"), "analyzer")
	if err == nil || !strings.Contains(err.Error(), "has no __main__.py") || len(server.sent) != 0 {
		t.Fatalf("RunPlugin = %v after %d messages; want a missing __main__.py, nothing sent", err, len(server.sent))
	}
}

func TestRunPluginWithoutPulumiPolicyNamesThePackage(t *testing.T) {
	python := "#!/bin/sh\necho 'pulumi-policy, pulumi (a version with pulumi.policy, 3.222 or newer)'\n"
	err, server := runPack(t, pack(t, true, python), "analyzer")
	if err == nil || !strings.Contains(err.Error(), "its environment lacks pulumi-policy") || len(server.sent) != 0 {
		t.Fatalf("RunPlugin = %v after %d messages; want pulumi-policy named, nothing sent", err, len(server.sent))
	}
}

func TestPackEnvCarriesTheEngineStackAndDropsInheritedValues(t *testing.T) {
	base := []string{"HOME=/home/x", "PULUMI_CONFIG={\"old\":\"1\"}", "PULUMI_STACK=other"}
	env, err := packEnv(base, &pulumirpc.AnalyzerStackConfigureRequest{
		Organization: "organization", Project: "stateful", Stack: "local", DryRun: true,
		Config: map[string]string{"stateful:nginx": "{}"}, ConfigSecretKeys: []string{"stateful:password"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"HOME=/home/x",
		`PULUMI_CONFIG={"stateful:nginx":"{}"}`,
		`PULUMI_CONFIG_SECRET_KEYS=["stateful:password"]`,
		"PULUMI_ORGANIZATION=organization",
		"PULUMI_PROJECT=stateful",
		"PULUMI_STACK=local",
		"PULUMI_DRY_RUN=true",
	}
	if !slices.Equal(env, want) {
		t.Fatalf("packEnv = %q; want %q", env, want)
	}
}

func TestPackEnvWithoutAStackIsAnEmptyConfiguration(t *testing.T) {
	env, err := packEnv([]string{"PULUMI_DRY_RUN=false"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"PULUMI_CONFIG={}", "PULUMI_CONFIG_SECRET_KEYS=[]"}
	if !slices.Equal(env, want) {
		t.Fatalf("packEnv = %q; want %q", env, want)
	}
}
