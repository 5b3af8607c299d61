// Package commands holds the cobra commands of the docker-layers plugin. They
// parse flags, call the inspect, extract and flatten libraries, and format
// what those return; they hold no image logic of their own.
package commands

import (
	"fmt"

	"github.com/docker-layers/docker-layers/registry"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli-plugins/plugin"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
)

const exitCodesHelp = exitCodesErrors + "\n" + exitCodesSignals

// exitCodesErrors and exitCodesSignals are exitCodesHelp's two parts; the
// root command names compare's own code between them.
const (
	exitCodesErrors = `Exit status:
  0  success
  1  usage error: unknown flag, wrong number of arguments, bad flag value
  2  runtime failure: daemon unreachable, image not found, a broken
     archive or layout, a digest mismatch, I/O error
  3  a layer spec that does not resolve, or resolves ambiguously`
	exitCodesSignals = `  130, 143  interrupted by SIGINT or SIGTERM
  141  extract's stdout reader went away (| head); nothing is printed`
)

const layerSpecHelp = `Layer specs (-l, --layers, repeatable):
  2            index: 0 is the bottom (base) layer
  -1           negative index: -1 is the top (newest) layer
  ab12         hex prefix of a diff ID or of an intermediate image ID;
               "sha256:" is optional. One- and two-digit numbers are
               always indexes: write sha256:12 for an ID prefix.
  myimg:base   tag of an image whose layers are the bottom of this one's
  A:B          inclusive range of the above, in either direction;
               A: and :B are open ends, ":" is every layer`

// NewRootCommand returns the "layers" command, with every subcommand wired
// in. isPlugin says whether it runs under the docker CLI.
func NewRootCommand(dockerCLI command.Cli, isPlugin bool) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "layers",
		Short: "Inspect, diff, compare, list, extract and squash an image's layers, and report on them",
		Long: `Inspect an image's layer ancestry, see what each layer changed, compare
two images file by file or their configs, list its files with the layer
each came from, see where its bytes are by directory, see the bytes its
layers waste and check them in CI, read one file, extract a range of its
layers flattened with whiteouts applied as one tarball, squash a range
into a new image, or write an HTML report of it.

The image comes from the Docker daemon, a "docker save" archive, an OCI
layout or archive, or straight from a registry (docker://REGISTRY/REPO:TAG,
no daemon needed, only the layers a command needs are fetched): see any
command's help for IMAGE.

` + layerSpecHelp + `

` + exitCodesErrors + `
  4  compare --exit-code: the images differ; efficiency: a rule failed
` + exitCodesSignals,
		Example: `  docker layers inspect myimg
  docker layers inspect myimg -l 2:-1 --no-trunc
  docker layers inspect myimg --format '{{.Index}} {{.DiffID}} {{.Size}}'
  docker layers diff myimg -l -1
  docker layers compare myimg:1 myimg:2
  docker layers ls myimg /etc -R
  docker layers du myimg --top 10
  docker layers efficiency myimg --lowest-efficiency 0.95
  docker layers cat myimg /etc/os-release
  docker layers squash myimg -l 2:-1 -t myimg:squashed
  docker layers report myimg -o report.html
  docker layers extract docker://registry.example.com/app:1.0 -l -1 -o top.tar`,
		SilenceUsage:          true,
		SilenceErrors:         true,
		TraverseChildren:      true,
		DisableFlagsInUseLine: true,
		CompletionOptions:     cobra.CompletionOptions{HiddenDefaultCmd: true},
		Args:                  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if isPlugin {
				if err := plugin.PersistentPreRunE(cmd, args); err != nil {
					return err
				}
			}
			cmd.SetContext(withLogger(withSignals(cmd.Context()), dockerCLI.Err()))
			return nil
		},
	}
	cmd.SetFlagErrorFunc(flagError)
	cmd.AddCommand(
		newInspectCommand(dockerCLI),
		newExtractCommand(dockerCLI),
		newDiffCommand(dockerCLI),
		newCompareCommand(dockerCLI),
		newLsCommand(dockerCLI),
		newDuCommand(dockerCLI),
		newEfficiencyCommand(dockerCLI),
		newCatCommand(dockerCLI),
		newSquashCommand(dockerCLI),
		newReportCommand(dockerCLI),
		newVersionCommand(dockerCLI),
	)
	// Each command's Use line names its options already.
	for _, c := range cmd.Commands() {
		c.DisableFlagsInUseLine = true
	}
	return cmd
}

// RunStandalone runs the commands without the docker CLI, as "docker-layers
// [global options] COMMAND". The global options are the docker CLI's own
// (-H, --context, --config, --tls*, --log-level, -D), parsed before the
// command as the docker CLI parses them.
func RunStandalone(dockerCLI *command.DockerCli, name string) error {
	root := NewRootCommand(dockerCLI, false)
	root.Use = name
	root.Version = Version()
	registry.UserAgent = "docker-layers/" + Version()
	root.SetVersionTemplate("docker-layers {{.Version}}\n")
	root.InitDefaultVersionFlag() // before the global flags are parsed
	root.Flags().Lookup("version").Usage = "Print version information and quit"
	opts, flags := cli.SetupPluginRootCommand(root)
	root.SetFlagErrorFunc(flagError)
	tcmd := cli.NewTopLevelCommand(root, dockerCLI, opts, flags)
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if err := tcmd.Initialize(); err != nil {
			return err
		}
		cmd.SetContext(withLogger(withSignals(cmd.Context()), dockerCLI.Err()))
		return nil
	}
	cmd, args, err := tcmd.HandleGlobalFlags()
	if err != nil {
		return err
	}
	cmd.SetArgs(args)
	return cmd.Execute()
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return usageErrorf(cmd, "unknown command %q", args[0])
}

func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == n {
			return nil
		}
		noun := "arguments"
		if n == 1 {
			noun = "argument"
		}
		return usageErrorf(cmd, "requires exactly %d %s, got %d", n, noun, len(args))
	}
}

func flagError(cmd *cobra.Command, err error) error {
	if err == nil {
		return nil
	}
	return usageErrorf(cmd, "%v", err)
}

// usageErrorf returns a one-line usage error (exit 1) for cmd.
func usageErrorf(cmd *cobra.Command, format string, args ...any) error {
	return cli.StatusError{
		StatusCode: exitUsage,
		Status:     fmt.Sprintf("%s: %s; see '%s --help'", cmd.CommandPath(), fmt.Sprintf(format, args...), cmd.CommandPath()),
	}
}
