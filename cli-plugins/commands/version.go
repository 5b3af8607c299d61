package commands

import (
	"fmt"
	"runtime/debug"

	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
)

// version is stamped by the Makefile with -ldflags "-X ...commands.version=…".
var version string

// Version returns the stamped version, else the module version that
// "go install" recorded, else "dev".
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func newVersionCommand(dockerCLI command.Cli) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show the docker-layers version",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(dockerCLI.Out(), "docker-layers %s\n", Version())
			return err
		},
	}
}
