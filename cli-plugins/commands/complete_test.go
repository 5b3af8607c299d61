package commands

import (
	"io"

	"bytes"
	"context"
	"errors"
	"github.com/docker/cli/cli/streams"
	"strings"
	"testing"

	"github.com/docker/cli/cli/command"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"gotest.tools/v3/assert"
)

// fakeCLI is a docker CLI whose only working part is its API client.
type fakeCLI struct {
	command.Cli
	api client.APIClient
}

func (f fakeCLI) Client() client.APIClient { return f.api }

// Err is where the root command's logger writes (debug lines only).
func (f fakeCLI) Err() *streams.Out { return streams.NewOut(io.Discard) }

// fakeAPI serves one image's inspect and history; every other image is
// missing, and any other call panics.
type fakeAPI struct {
	client.APIClient
}

// ClientVersion is the API version negotiated, which the daemon source
// logs.
func (f *fakeAPI) ClientVersion() string { return "1.45" }

const fakeImageID = "sha256:1111111111111111111111111111111111111111111111111111111111111111"

func (f *fakeAPI) ImageInspect(_ context.Context, ref string, _ ...client.ImageInspectOption) (image.InspectResponse, error) {
	if ref != "myimg" && ref != fakeImageID {
		return image.InspectResponse{}, errors.New("No such image: " + ref)
	}
	return image.InspectResponse{
		ID:       fakeImageID,
		RepoTags: []string{"myimg:latest"},
		RootFS: image.RootFS{Type: "layers", Layers: []string{
			"sha256:aaaa000000000000000000000000000000000000000000000000000000000000",
			"sha256:bbbb000000000000000000000000000000000000000000000000000000000000",
		}},
	}, nil
}

func (f *fakeAPI) ImageHistory(_ context.Context, ref string, _ ...client.ImageHistoryOption) ([]image.HistoryResponseItem, error) {
	return []image.HistoryResponseItem{
		{ID: fakeImageID, CreatedBy: "/bin/sh -c echo top > /top", Size: 4, Tags: []string{"myimg:latest"}},
		{ID: "<missing>", CreatedBy: "/bin/sh -c #(nop) ADD file:abc in / ", Size: 10},
	}, nil
}

// complete runs cobra's hidden __complete command, as a shell does, and
// returns the candidates and the directive line.
func complete(t *testing.T, api *fakeAPI, args ...string) ([]string, string) {
	t.Helper()
	root := NewRootCommand(fakeCLI{api: api}, false)
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&bytes.Buffer{})
	root.SetArgs(append([]string{"__complete"}, args...))
	assert.NilError(t, root.Execute())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) == 1 {
		return nil, lines[0]
	}
	return lines[:len(lines)-1], lines[len(lines)-1]
}

func TestCompleteLayerSpecs(t *testing.T) {
	const keep = ":36" // NoFileComp | KeepOrder
	const none = ":4"  // NoFileComp
	all := []string{
		"0\tlayer 0 aaaa00000000: ADD file:abc in /",
		"1\tlayer 1 bbbb00000000: echo top > /top",
		"-1\tlayer 1 bbbb00000000: echo top > /top",
		"myimg:latest\ttop layer 1 of this image",
		"aaaa00000000\tlayer 0",
		"bbbb00000000\tlayer 1",
	}
	for _, tc := range []struct {
		name      string
		args      []string
		want      []string
		directive string
	}{
		{name: "inspect -l", args: []string{"inspect", "myimg", "-l", ""}, want: all, directive: keep},
		{name: "--layers=", args: []string{"extract", "myimg", "--layers", "b"}, want: []string{"bbbb00000000\tlayer 1"}, directive: keep},
		{name: "range", args: []string{"squash", "myimg", "-l", "0:-"}, want: []string{"0:-1\tlayer 1 bbbb00000000: echo top > /top"}, directive: keep},
		{name: "flags around the image", args: []string{"diff", "-H=false", "myimg", "--no-trunc", "-l", "my"}, want: []string{"myimg:latest\ttop layer 1 of this image"}, directive: keep},
		{name: "compare --layers-b: IMAGE_B", args: []string{"compare", "other", "myimg", "--layers-b", "1"}, want: []string{"1\tlayer 1 bbbb00000000: echo top > /top"}, directive: keep},
		{name: "compare --layers-b: one image", args: []string{"compare", "myimg", "--layers-b", "0"}, want: []string{"0\tlayer 0 aaaa00000000: ADD file:abc in /"}, directive: keep},
		{name: "efficiency --base", args: []string{"efficiency", "myimg", "--base", "a"}, want: []string{"aaaa00000000\tlayer 0"}, directive: keep},
		{name: "no image yet", args: []string{"inspect", "-l", ""}, directive: none},
		{name: "missing image", args: []string{"cat", "nosuch", "/etc/passwd", "-l", ""}, directive: none},
		{name: "stdin", args: []string{"ls", "docker-archive:-", "-l", ""}, directive: none},
		{name: "--input stdin", args: []string{"du", "--input", "-", "-l", ""}, directive: none},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, directive := complete(t, &fakeAPI{}, tc.args...)
			assert.DeepEqual(t, got, tc.want)
			assert.Equal(t, directive, tc.directive)
		})
	}
}
