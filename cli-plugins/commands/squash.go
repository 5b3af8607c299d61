package commands

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/docker-layers/docker-layers/extract"
	"github.com/docker-layers/docker-layers/registry"
	"github.com/docker-layers/docker-layers/source"
	"github.com/docker-layers/docker-layers/squash"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/command/completion"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

type squashOptions struct {
	image    string
	input    string
	layers   string
	tags     []string
	message  string
	output   string
	push     string
	force    bool
	tmpdir   string
	progress string
	quiet    bool
	platform *ocispec.Platform
	allWh    bool

	refs  []reference.NamedTagged
	epoch time.Time // SOURCE_DATE_EPOCH; zero when unset
}

func newSquashCommand(dockerCLI command.Cli) *cobra.Command {
	var opts squashOptions
	cmd := &cobra.Command{
		Use:   "squash [OPTIONS] IMAGE",
		Short: "Squash a range of an image's layers into one layer, as a new image",
		Long: `Make a new image in which the layers A to B of IMAGE are one layer (all
of its layers by default). The layers below A and above B are kept byte
for byte; the squashed layer keeps whiteouts, so deletions that reach
below A still apply. Only the whiteouts and opaque markers that hide
something in the layers below A are kept (their headers are read for
that): a whiteout of a path that no lower layer has, or that a lower
layer deleted already, hides nothing and is left out. --all-whiteouts
keeps every one, as earlier versions did, so that the squashed layer
applies on any lower image as the range does.

The config (Env, Cmd, Entrypoint, WorkingDir, User, Labels,
ExposedPorts, Volumes, Healthcheck, StopSignal...) is kept; its
rootfs.diff_ids are recomputed, and the history entries of the squashed
layers collapse into one whose comment says what was squashed (-m sets
it). History entries that made no layer keep their place: those inside
the range come just before the collapsed entry, which takes the place of
the last squashed step.

The new image is streamed into the daemon (docker load) and tagged with
-t. With -o, a "docker load" archive (manifest.json and an OCI
index.json) is written instead, and no daemon is needed when the image
comes from an archive or a layout. On a daemon with the containerd image
store the squashed layer is gzipped. The new image ID is printed on
stdout.

With --push REF the new image goes to a registry instead, as "docker push
REF" would push it (REGISTRY/REPO[:TAG]; "docker://" may prefix it), with
the credentials of "docker login": the squashed layer (gzipped), the
config and the manifest are uploaded, and the kept layers only when the
target repository has not got them: a kept layer of a docker:// image on
the same registry is mounted from its repository, and those above the
range are not even fetched. REF@DIGEST is printed on stdout. --push
names the image in the registry: it takes neither -t nor -o, and needs
no daemon unless the image comes from one.

An image of the daemon is first saved to a temporary file in --tmpdir
(about the image's size on disk, removed on exit); an archive or a
layout is read in place.

Reproducible squashes: with SOURCE_DATE_EPOCH set, the same squash of the
same image gives the same image ID, as buildkit's does. The collapsed
history step is created at SOURCE_DATE_EPOCH, the config's "created" and
the squashed layer's file times are clamped to it (no later time is
kept); the kept layers and their history steps are left as they are.

` + imageSourceHelp + `

` + layerSpecHelp + `

` + exitCodesHelp,
		Example: `  docker layers squash myimg -t myimg:squashed
  docker layers squash myimg -l 2:-1 -t myimg:small -m "squash the build steps"
  docker layers squash myimg -l myimg:base: -o squashed.tar && docker load -i squashed.tar
  docker layers squash --input saved.tar -l 1:-1 -o squashed.tar
  docker layers squash oci:./layout:latest -t myimg:squashed
  docker layers squash docker://registry.example.com/app:1.0 -l 2:-1 --push registry.example.com/app:1.0-squashed
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) docker layers squash myimg -t myimg:squashed`,
		Args: imageArgs(1, &opts.input),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				opts.image = args[0]
			}
			if err := validateSquashFlags(cmd, dockerCLI, &opts); err != nil {
				return err
			}
			return status(cmd.Context(), runSquash(cmd.Context(), dockerCLI, opts))
		},
		ValidArgsFunction: completion.ImageNames(dockerCLI, 1),
	}
	flags := cmd.Flags()
	flags.StringVarP(&opts.layers, "layers", "l", "", "Squash these layers (one index, ID prefix, tag or range A:B; default: all)")
	_ = cmd.RegisterFlagCompletionFunc("layers", completeLayerSpecs(dockerCLI, 0))
	flags.StringArrayVarP(&opts.tags, "tag", "t", nil, `Name and optionally a tag in the "name:tag" format (repeatable)`)
	flags.StringVarP(&opts.message, "message", "m", "", "Comment of the squashed history step")
	flags.StringVarP(&opts.output, "output", "o", "", `Write a "docker load" archive to a file, or "-" for stdout, instead of loading the image`)
	flags.StringVar(&opts.push, "push", "", `Push the new image to a registry as REGISTRY/REPO[:TAG] (as "docker push" takes it) instead of loading it`)
	flags.BoolVarP(&opts.force, "force", "f", false, "Overwrite the output file if it exists")
	flags.StringVar(&opts.input, "input", "", inputHelp)
	flags.StringVar(&opts.tmpdir, "tmpdir", "", "Directory for temporary files: the squashed layer, and a daemon's image or a compressed archive (default $TMPDIR or /tmp)")
	flags.StringVar(&opts.progress, "progress", "auto", `Progress output on stderr: "auto", "tty", "plain" or "none"`)
	flags.BoolVarP(&opts.quiet, "quiet", "q", false, "Suppress the progress output; print only the image ID")
	flags.BoolVar(&opts.allWh, "all-whiteouts", false, "Keep every whiteout and opaque marker of the squashed layers, also those that hide nothing in the layers below them")
	addPlatformFlag(cmd, flags, &opts.platform)
	_ = cmd.MarkFlagFilename("output", "tar")
	_ = cmd.RegisterFlagCompletionFunc("push", cobra.NoFileCompletions)
	_ = cmd.MarkFlagFilename("input", "tar", "tgz", "gz", "zst")
	_ = cmd.MarkFlagDirname("tmpdir")
	_ = cmd.RegisterFlagCompletionFunc("progress", cobra.FixedCompletions([]string{"auto", "tty", "plain", "none"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// validateSquashFlags settles the tags and the output before any work:
// every mistake here is a usage error (exit 1).
func validateSquashFlags(cmd *cobra.Command, dockerCLI command.Cli, opts *squashOptions) error {
	if opts.push != "" {
		switch {
		case opts.output != "":
			return usageErrorf(cmd, "--push and -o both say where the new image goes: give one")
		case len(opts.tags) > 0:
			return usageErrorf(cmd, "--push names the new image in the registry; -t names it in the daemon: give one")
		}
		ref, err := registry.ParseTag(opts.push)
		if err != nil {
			return usageErrorf(cmd, "--push: %v", err)
		}
		opts.push = ref
	}
	if len(opts.tags) == 0 && opts.output == "" && opts.push == "" {
		return usageErrorf(cmd, "nothing to do: name the new image with -t, write it to a file with -o, or push it with --push")
	}
	for _, t := range opts.tags {
		named, err := reference.ParseNormalizedNamed(t)
		if err != nil {
			return usageErrorf(cmd, "invalid tag %q: %v", t, err)
		}
		if _, ok := named.(reference.Digested); ok {
			return usageErrorf(cmd, "invalid tag %q: a digest cannot be a tag", t)
		}
		opts.refs = append(opts.refs, reference.TagNameOnly(named).(reference.NamedTagged))
	}
	switch opts.progress {
	case "auto", "tty", "plain", "none":
	default:
		return usageErrorf(cmd, "invalid --progress %q: want auto, tty, plain or none", opts.progress)
	}
	var err error
	if opts.epoch, err = sourceDateEpoch(cmd); err != nil {
		return err
	}
	if opts.output == "-" && dockerCLI.Out().IsTerminal() {
		return usageErrorf(cmd, "refusing to write an image archive to a terminal: use -o FILE or redirect stdout")
	}
	return nil
}

func runSquash(ctx context.Context, dockerCLI command.Cli, opts squashOptions) (retErr error) {
	progress := newProgress(dockerCLI, opts.progress, opts.quiet)
	defer progress.done()

	var specs []string
	if opts.layers != "" {
		specs = []string{opts.layers}
	}
	sopts := sourceOptions(dockerCLI, opts.tmpdir, opts.platform, progress.update)
	sel, err := selectLayers(ctx, dockerCLI, opts.input, opts.image, specs, sopts)
	defer closeSelection(sel, &retErr)
	if err != nil {
		return err
	}
	from, to, err := sel.Range()
	if err != nil {
		return err
	}
	if opts.push != "" {
		return runSquashPush(ctx, dockerCLI, opts, sel, from, to, progress)
	}
	a, img, err := sel.Stored(ctx)
	if err != nil {
		return err
	}
	// The containerd image store keeps layers compressed as they are
	// loaded, and names images by their manifest: ask the daemon that
	// loads the new image, or the one the image comes from.
	var containerd bool
	if opts.output == "" || sel.Ref.Transport == source.Daemon {
		if containerd, err = source.ContainerdStore(ctx, dockerCLI.Client()); err != nil {
			return err
		}
	}
	squashOpts := squashOptionsOf(opts, from, to, progress)
	squashOpts.Tags, squashOpts.Containerd = opts.refs, containerd
	progress.flattening(to - from + 1)

	var res *squash.Result
	if opts.output == "" {
		if res, err = squash.Load(ctx, dockerCLI.Client(), a, img, squashOpts); err != nil {
			return err
		}
	} else {
		out, err := createOutput(opts.output, opts.force, dockerCLI.Out())
		if err != nil {
			return err
		}
		if res, err = squash.Write(ctx, out.w, a, img, squashOpts); err != nil {
			out.abort()
			return err
		}
		if err := out.commit(); err != nil {
			return err
		}
	}
	where := "into " + shortDigest(res.ID)
	if len(opts.refs) > 0 {
		where = "into " + reference.FamiliarString(opts.refs[0])
	}
	if opts.output != "" {
		where = "to " + outputName(opts.output)
	}
	progress.summarize(fmt.Sprintf("Squashed layers %d to %d:", from, to), where)
	progress.done()
	if opts.output == "-" {
		if !opts.quiet {
			_, _ = fmt.Fprintln(dockerCLI.Err(), res.ID)
		}
		return nil
	}
	_, _ = fmt.Fprintln(dockerCLI.Out(), res.ID)
	return nil
}

// squashOptionsOf are the squash.Options of the flags, for layers from..to,
// reporting to progress.
func squashOptionsOf(opts squashOptions, from, to int, progress *progress) squash.Options {
	return squash.Options{
		From:            from,
		To:              to,
		Comment:         opts.message,
		SourceDateEpoch: opts.epoch,
		AllWhiteouts:    opts.allWh,
		TmpDir:          opts.tmpdir,
		Copying:         progress.copying,
		Flattening:      progress.written,
		Warn:            progress.warn,
	}
}

// runSquashPush squashes the layers from..to of sel and pushes the new
// image to opts.push.
func runSquashPush(ctx context.Context, dockerCLI command.Cli, opts squashOptions, sel *source.Selection, from, to int, progress *progress) error {
	src, err := sel.Pushable(ctx)
	if err != nil {
		return err
	}
	squashOpts := squashOptionsOf(opts, from, to, progress)
	squashOpts.Copying, squashOpts.Present = progress.pushing, progress.present
	squashOpts.Keychain = cliKeychain{dockerCLI}
	progress.flattening(to - from + 1)
	res, err := squash.Push(ctx, opts.push, src, squashOpts)
	if err != nil {
		return err
	}
	pushed := opts.push + "@" + res.Manifest.String()
	progress.summarize(fmt.Sprintf("Squashed layers %d to %d:", from, to), "pushed to "+pushed)
	progress.done()
	_, _ = fmt.Fprintln(dockerCLI.Out(), pushed)
	return nil
}

// copying is squash's Copying callback: the kept layers passed through
// into the new image, shown like the layers extract reads.
func (p *progress) copying(e extract.Progress) {
	p.entry(e, "Copying", "Copied", fmt.Sprintf("copying %s into the new image", progressID(e)))
}

// pushing is squash.Push's Copying callback: the blobs uploaded to the
// registry, shown like the layers extract reads.
func (p *progress) pushing(e extract.Progress) {
	p.entry(e, "Pushing", "Pushed", fmt.Sprintf("pushing %s", progressID(e)))
}

// present is squash.Push's Present callback: a kept layer the registry
// had, or mounted, in docker push's words.
func (p *progress) present(diffID digest.Digest, from string) {
	status := "Layer already exists"
	if from != "" {
		status = "Mounted from " + from
	}
	e := extract.Progress{Entry: diffID.String(), DiffID: diffID}
	p.entry(e, status, status, fmt.Sprintf("%s: %s", progressID(e), strings.ToLower(status[:1])+status[1:]))
}
