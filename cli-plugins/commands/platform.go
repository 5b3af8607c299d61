package commands

import (
	"errors"
	"fmt"
	"strings"

	"github.com/containerd/platforms"
	"github.com/docker/cli/cli/command/completion"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

const platformHelp = `Platform of a multi-platform image to use, as os/arch[/variant] (e.g. "linux/arm64")`

// platformValue is the --platform flag: parsed and normalized with
// containerd's platforms package, so that a bad value is a usage error.
type platformValue struct{ p **ocispec.Platform }

func (v platformValue) String() string {
	if *v.p == nil {
		return ""
	}
	return platforms.Format(**v.p)
}

func (v platformValue) Set(s string) error {
	p, err := parsePlatform(s)
	if err != nil {
		return err
	}
	*v.p = &p
	return nil
}

func (platformValue) Type() string { return "string" }

// parsePlatform parses os/arch[/variant] and normalizes it ("aarch64" is
// "arm64", "linux/arm64/v8" is "linux/arm64").
func parsePlatform(s string) (ocispec.Platform, error) {
	if strings.TrimSpace(s) == "" {
		return ocispec.Platform{}, errors.New("empty platform: want os/arch[/variant], e.g. linux/arm64")
	}
	p, err := platforms.Parse(s)
	if err != nil {
		return ocispec.Platform{}, fmt.Errorf("invalid platform %q: want os/arch[/variant], e.g. linux/arm64", s)
	}
	return platforms.Normalize(p), nil
}

// addPlatformFlag adds --platform to a command that reads an image through
// selectLayers: pass the value on as source.Options.Platform. A nil
// platform (the default) leaves the choice to the daemon, or to the running
// platform for an --input archive.
func addPlatformFlag(cmd *cobra.Command, flags *pflag.FlagSet, p **ocispec.Platform) {
	flags.Var(platformValue{p}, "platform", platformHelp)
	_ = cmd.RegisterFlagCompletionFunc("platform", completion.Platforms)
}
