package commands

import (
	"context"
	"time"

	"github.com/docker-layers/docker-layers/source"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
)

// completionTimeout bounds the work of one completion: a shell waits for it.
const completionTimeout = 5 * time.Second

// completeLayerSpecs completes a layer-spec flag (-l, --layers-b, --base)
// from the ancestry of the image that positional argument arg names (or
// the first, when there are fewer), or --input: indexes, the tags of the
// image's ancestors and diff-ID prefixes (inspect.Ancestry.Complete). It
// reads image metadata only (an archive or a layout in place); an image
// on stdin, or any error, completes nothing, and never to file names.
func completeLayerSpecs(dockerCLI command.Cli, arg int) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		const none = cobra.ShellCompDirectiveNoFileComp
		ref, ok := completionImage(cmd, args, arg)
		if !ok {
			return nil, none
		}
		opts := sourceOptions(dockerCLI, flagString(cmd, "tmpdir"), nil, nil)
		if p := flagString(cmd, "platform"); p != "" {
			plat, err := parsePlatform(p)
			if err != nil {
				return nil, none
			}
			opts.Platform = &plat
		}
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		ctx, cancel := context.WithTimeout(ctx, completionTimeout)
		defer cancel()
		var c source.Client
		if ref.Transport == source.Daemon {
			c = dockerCLI.Client()
		}
		img, err := source.Open(ctx, c, ref, opts)
		if err != nil {
			return nil, none
		}
		defer img.Close()
		anc, err := img.Ancestry(ctx)
		if err != nil {
			return nil, none
		}
		var out []cobra.Completion
		for _, c := range anc.Complete(toComplete) {
			out = append(out, cobra.CompletionWithDesc(c.Spec, c.Description))
		}
		return out, none | cobra.ShellCompDirectiveKeepOrder
	}
}

// completionImage is the image a completion reads: --input (with the
// argument selecting in it), else positional argument arg, else the first.
func completionImage(cmd *cobra.Command, args []string, arg int) (source.Reference, bool) {
	name := ""
	if arg < len(args) {
		name = args[arg]
	} else if len(args) > 0 {
		name = args[0]
	}
	var (
		ref source.Reference
		err error
	)
	if input := flagString(cmd, "input"); input != "" {
		ref, err = source.FromInput(input, name)
	} else if name != "" {
		ref, err = source.ParseReference(name)
	} else {
		return ref, false
	}
	if err != nil || (ref.Transport != source.Daemon && ref.Path == "-") {
		return ref, false // stdin cannot be read for a completion
	}
	return ref, true
}

// flagString is the value of cmd's flag name, or "" when it has none.
func flagString(cmd *cobra.Command, name string) string {
	if f := cmd.Flags().Lookup(name); f != nil {
		return f.Value.String()
	}
	return ""
}
