package commands

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/docker-layers/docker-layers/analyze"
	"github.com/docker-layers/docker-layers/flatten"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/command/completion"
	"github.com/docker/cli/cli/command/formatter"
	flagsHelper "github.com/docker/cli/cli/flags"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

// defaultCIConfig is the CI configuration file dive reads, and so
// efficiency, from the current directory when the rules are checked.
const defaultCIConfig = ".dive-ci"

type efficiencyOptions struct {
	image    string
	base     string
	paths    []string
	format   string
	top      int
	noTrunc  bool
	human    bool
	input    string
	tmpdir   string
	platform *ocispec.Platform

	ci       bool
	ciConfig string
	rules    map[string]*string // rule name -> flag value, nil when not set
}

// efficiencyRuleFlags are the flags of dive's rules.
var efficiencyRuleFlags = []struct{ flag, rule, help string }{
	{"lowest-efficiency", analyze.RuleLowestEfficiency, `Fail (exit status 4) when the efficiency is below this ratio (0-1, or "disabled"; dive's default 0.9)`},
	{"highest-wasted-bytes", analyze.RuleHighestWastedBytes, `Fail (exit status 4) when more bytes than this are wasted ("20MB", "1GiB", bytes, or "disabled", dive's default)`},
	{"highest-user-wasted-percent", analyze.RuleHighestUserWastedPercent, `Fail (exit status 4) when the user layers waste more than this ratio of their bytes (0-1, or "disabled"; dive's default 0.1)`},
}

func newEfficiencyCommand(dockerCLI command.Cli) *cobra.Command {
	opts := efficiencyOptions{rules: map[string]*string{}}
	cmd := &cobra.Command{
		Use:   "efficiency [OPTIONS] IMAGE",
		Short: "Show how many of the bytes an image stores it wastes, and check them in CI",
		Long: `Show how well an image's layers use the bytes they store: the bytes that
the final image hides (wasted), where they are, and the files stored more
than once (duplicated). With a rule, check the figures as dive's CI mode
does, and exit with status 4 when a rule fails.

Figures:
  STORED        bytes of the regular files all the layers store (the sum
                of their tar entries' sizes; dive's image size)
  WASTED        the part of them that the final image no longer shows: a
                higher layer replaced the file (even with the same bytes,
                as chmod does) or deleted it (a whiteout, an opaque
                directory). The sum of "diff --summary"'s WASTED column.
  EFFICIENCY    (STORED - WASTED) / STORED: the share of the stored bytes
                that the final image shows (1 when nothing is stored)
  USER STORED, USER WASTED
                the same over the layers above the base image: every layer
                but layer 0 (as dive), or those above --base
  USER WASTED % USER WASTED / USER STORED, as a ratio from 0 to 1
  DUPLICATED    the same content (sha256) stored at several paths or in
                several layers, shown or hidden: size x (copies - 1).
                Hardlinks store nothing and are no copies; empty files are
                not counted. Only files whose size another file has are
                read and hashed.

The WASTED table lists, largest first, each path whose stored files the
final image hides, the layers that stored a file there, and whether the
final image shows the top one (replaced) or none (deleted). DUPLICATED
lists each content stored more than once with its copies (LAYER:PATH).
--top N bounds both tables (0: no bound); --format json lists everything.
--path GLOB (repeatable) counts only the paths that match, as diff's
--path does: every figure, and the rules, are then those of these paths.

Rules (dive's CI rules; all three are checked as soon as one is asked
for, with dive's defaults for those not given):
  --lowest-efficiency RATIO           EFFICIENCY must be at least RATIO
  --highest-wasted-bytes SIZE         WASTED must be at most SIZE
  --highest-user-wasted-percent RATIO USER WASTED % must be at most RATIO
  --ci                                check dive's defaults (0.9, disabled,
                                      0.1), or those of the config file
  --ci-config FILE                    read the rules from dive's .dive-ci
                                      YAML; without it, ./.dive-ci is read
                                      when rules are checked and it exists
A rule's flag wins over the file, which wins over dive's defaults;
"disabled" turns a rule off. A malformed file or a value out of range is
a usage error (exit status 1). The figures differ from dive's: dive
counts as wasted the copy the final image still shows, and misses the
files deleted with their directory or hidden by an opaque one (see the
README), so thresholds tuned on dive's figures may need a second look.

A .dive-ci file:
  rules:
    lowestEfficiency: 0.95
    highestWastedBytes: 20MB
    highestUserWastedPercent: 0.20

Every layer is read (headers only, and the bytes of files whose size
another file has).

` + imageSourceHelp + `

--base takes one layer spec: the base image is the layers up to and
including it.

` + layerSpecHelp + `

` + exitCodesErrors + `
  4  a rule failed
` + exitCodesSignals,
		Example: `  docker layers efficiency myimg
  docker layers efficiency myimg --base debian:12 --top 0
  docker layers efficiency myimg --path /usr/lib --path /var/cache
  docker layers efficiency myimg --lowest-efficiency 0.95 --highest-wasted-bytes 20MB
  docker layers efficiency myimg --ci                # ./.dive-ci, or dive's defaults
  docker layers efficiency myimg --ci-config ci/.dive-ci --format json
  docker layers efficiency --input saved.tar --format '{{.Efficiency}} {{.WastedBytes}}'`,
		Args: imageArgs(1, &opts.input),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				opts.image = args[0]
			}
			if opts.top < 0 {
				return usageErrorf(cmd, "--top %d: give a count, or 0 for every row", opts.top)
			}
			filter, err := flatten.NewPathFilter(opts.paths, nil)
			if err != nil {
				return usageErrorf(cmd, "invalid --path: %v", err)
			}
			rules, check, err := efficiencyRules(cmd, opts)
			if err != nil {
				return err
			}
			return status(cmd.Context(), runEfficiency(cmd.Context(), dockerCLI, opts, filter, rules, check))
		},
		ValidArgsFunction: completion.ImageNames(dockerCLI, 1),
	}
	flags := cmd.Flags()
	flags.StringVar(&opts.base, "base", "", "The top layer of the base image (index, ID prefix or tag; default: layer 0, as dive)")
	_ = cmd.RegisterFlagCompletionFunc("base", completeLayerSpecs(dockerCLI, 0))
	flags.StringVar(&opts.format, "format", "", flagsHelper.FormatHelp)
	flags.StringArrayVar(&opts.paths, "path", nil, "Count only paths that match this glob, or are under a directory that does (repeatable)")
	flags.IntVar(&opts.top, "top", 10, "Show at most this many wasted paths and duplicated contents in a table (0: all)")
	flags.BoolVar(&opts.noTrunc, "no-trunc", false, "Don't truncate output")
	flags.BoolVarP(&opts.human, "human", "H", true, "Print sizes in human readable format")
	flags.BoolVar(&opts.ci, "ci", false, "Check the rules: dive's defaults, those of ./.dive-ci or --ci-config, and the rule flags")
	flags.StringVar(&opts.ciConfig, "ci-config", "", "Read the rules from this dive CI file (YAML; default ./.dive-ci if it exists)")
	for _, f := range efficiencyRuleFlags {
		v := new(string)
		flags.StringVar(v, f.flag, "", f.help)
		opts.rules[f.rule] = v
	}
	flags.StringVar(&opts.input, "input", "", inputHelp)
	flags.StringVar(&opts.tmpdir, "tmpdir", "", "Directory for spooled layers (default $TMPDIR or /tmp)")
	addPlatformFlag(cmd, flags, &opts.platform)
	_ = cmd.MarkFlagFilename("input", "tar", "tgz", "gz", "zst")
	_ = cmd.MarkFlagFilename("ci-config")
	_ = cmd.MarkFlagDirname("tmpdir")
	return cmd
}

// efficiencyRules returns the rules to check, and whether any are: dive's
// defaults, then the config file, then the flags; each wrong value is a
// usage error.
func efficiencyRules(cmd *cobra.Command, opts efficiencyOptions) (analyze.Rules, bool, error) {
	rules := analyze.DefaultRules()
	check := opts.ci || opts.ciConfig != ""
	for _, f := range efficiencyRuleFlags {
		check = check || cmd.Flags().Changed(f.flag)
	}
	if !check {
		return rules, false, nil
	}
	file := opts.ciConfig
	if file == "" {
		if _, err := os.Stat(defaultCIConfig); err == nil {
			file = defaultCIConfig
		}
	}
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return rules, true, usageErrorf(cmd, "--ci-config %s: no such file", file)
			}
			return rules, true, usageErrorf(cmd, "reading rules: %v", err)
		}
		err = analyze.ReadRules(f, &rules)
		_ = f.Close()
		if err != nil {
			return rules, true, usageErrorf(cmd, "invalid rules in %s: %v", file, err)
		}
	}
	for _, f := range efficiencyRuleFlags {
		if !cmd.Flags().Changed(f.flag) {
			continue
		}
		if err := rules.Set(f.rule, *opts.rules[f.rule]); err != nil {
			return rules, true, usageErrorf(cmd, "invalid --%s: %v", f.flag, err)
		}
	}
	return rules, true, nil
}

func runEfficiency(ctx context.Context, dockerCLI command.Cli, opts efficiencyOptions, filter *flatten.PathFilter, rules analyze.Rules, check bool) (retErr error) {
	var specs []string
	if opts.base != "" {
		specs = []string{opts.base}
	}
	reading := readingProgress(dockerCLI)
	defer reading.done()
	sopts := sourceOptions(dockerCLI, opts.tmpdir, opts.platform, reading.update)
	sel, err := selectLayers(ctx, dockerCLI, opts.input, opts.image, specs, sopts)
	defer closeSelection(sel, &retErr)
	if err != nil {
		return err
	}
	anc := sel.Ancestry
	if len(anc.Layers) == 0 {
		return fmt.Errorf("image %s has no layers", anc.Ref)
	}
	base := 1
	if opts.base != "" && len(sel.Selected) > 0 {
		base = sel.Selected[len(sel.Selected)-1] + 1
	}
	layers, err := sel.Layers(ctx, anc.DiffIDs(), nil)
	if err != nil {
		return err
	}
	reading.done()
	rep, err := analyze.Efficiency(ctx, layers, analyze.EfficiencyOptions{Base: base, Filter: filter})
	if err != nil {
		return err
	}
	view := efficiencyView{ref: anc.Ref, report: rep, top: opts.top, human: opts.human, trunc: !opts.noTrunc}
	pass := true
	if check {
		view.rules, pass = rules.Check(rep)
		view.checked = true
	}
	if err := efficiencyWrite(dockerCLI.Out(), opts.format, view); err != nil {
		return fmt.Errorf("writing output: %w", err)
	}
	if !pass {
		var failed []string
		for _, r := range view.rules {
			if r.Status == analyze.RuleFail {
				failed = append(failed, r.Name)
			}
		}
		return cli.StatusError{StatusCode: exitCheckFailed, Status: fmt.Sprintf("efficiency of %s: %d of %d rules failed: %s", anc.Ref, len(failed), len(view.rules), strings.Join(failed, ", "))}
	}
	return nil
}

// efficiencyFormat is the format of an efficiency report: the default
// table unless one is given.
func efficiencyFormat(source string) formatter.Format {
	if source == "" {
		return formatter.TableFormatKey
	}
	return formatter.Format(source)
}
