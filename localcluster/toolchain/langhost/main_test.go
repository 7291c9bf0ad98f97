package main

import (
	"flag"
	"io"
	"slices"
	"testing"
)

func TestPluginVersion(t *testing.T) {
	for in, want := range map[string]string{
		"4.25.0":           "4.25.0",
		"1.2":              "1.2.0",
		"1.2.3a4":          "1.2.3-alpha.4",
		"1.2.3b4":          "1.2.3-beta.4",
		"1.2.3rc4":         "1.2.3-rc.4",
		"1.2.3.post4":      "1.2.3+post4",
		"1.2.3.dev5":       "1.2.3+dev5",
		"1.2.3.post4.dev5": "1.2.3+post4dev5",
	} {
		if got, err := pluginVersion(in); err != nil || got != want {
			t.Errorf("pluginVersion(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "1!2.0", "1.0+local", "x"} {
		if got, err := pluginVersion(in); err == nil {
			t.Errorf("pluginVersion(%q) = %q; want an error", in, got)
		}
	}
}

func TestKnownFlags(t *testing.T) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.String("tracing", "", "")
	fs.Bool("logtostderr", false, "")
	fs.Int("v", 0, "")
	in := []string{"--logtostderr", "-v=9", "--new-flag", "--other=x", "--tracing", "t", "127.0.0.1:1"}
	got := knownFlags(fs, in)
	want := []string{"--logtostderr", "-v=9", "--tracing", "t", "127.0.0.1:1"}
	if !slices.Equal(got, want) {
		t.Fatalf("knownFlags(%q) = %q; want %q", in, got, want)
	}
	if err := fs.Parse(got); err != nil || fs.Arg(0) != "127.0.0.1:1" {
		t.Fatalf("parse: %v, args %q", err, fs.Args())
	}
}

func TestNormalizeName(t *testing.T) {
	if got := normalizeName("Pulumi_Kubernetes"); got != "pulumi-kubernetes" {
		t.Fatalf("normalizeName = %q", got)
	}
}
