// Command docker-layers is the docker-layers Docker CLI plugin. Installed in
// ~/.docker/cli-plugins it runs as "docker layers"; run directly it works
// standalone as "docker-layers".
package main

import (
	"os"
	"path/filepath"

	"github.com/docker-layers/docker-layers/cli-plugins/commands"
	"github.com/docker/cli/cli-plugins/metadata"
	"github.com/docker/cli/cli-plugins/plugin"
	"github.com/docker/cli/cli/command"
)

func main() {
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
			ShortDescription: "Inspect and extract image layers",
			URL:              "https://github.com/docker-layers/docker-layers",
		})
	}
	os.Exit(commands.Exit(dockerCLI.Err(), err))
}
