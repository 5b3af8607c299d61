// Command docker-layers is the docker-layers Docker CLI plugin. Installed in
// ~/.docker/cli-plugins it runs as "docker layers"; run directly it works
// standalone as "docker-layers".
package main

import (
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/docker-layers/docker-layers/cli-plugins/commands"
	"github.com/docker/cli/cli-plugins/metadata"
	"github.com/docker/cli/cli-plugins/plugin"
	"github.com/docker/cli/cli/command"
)

// gcPercent is the garbage collector's target unless GOGC is set. Most of
// the heap is flatten's merge index (at most a few MiB since it spills to
// disk) and the I/O buffers; the garbage of the writing pass is
// short-lived. Collecting at half the live heap instead of all of it keeps
// the peak RSS near the live heap, for no measurable time (BENCHMARKS.md).
const gcPercent = 50

func main() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
	dockerCLI, err := command.NewDockerCli()
	if err != nil {
		os.Exit(commands.Exit(os.Stderr, err))
	}
	if plugin.RunningStandalone() {
		err = commands.RunStandalone(dockerCLI, filepath.Base(os.Args[0]))
	} else {
		err = plugin.RunPlugin(dockerCLI, commands.NewRootCommand(dockerCLI, true), metadata.Metadata{
			SchemaVersion:    "0.1.0",
			Vendor:           "docker-layers",
			Version:          commands.Version(),
			ShortDescription: "Inspect, compare and extract image layers",
			URL:              "https://github.com/docker-layers/docker-layers",
		})
	}
	os.Exit(commands.Exit(dockerCLI.Err(), err))
}
