package commands

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// sourceDateEpochEnv is the reproducible-builds.org variable that extract
// and squash honour, as buildx, buildkit and umoci do.
const sourceDateEpochEnv = "SOURCE_DATE_EPOCH"

const sourceDateEpochHelp = `SOURCE_DATE_EPOCH (reproducible-builds.org), when set in the environment
to seconds since 1970-01-01 UTC ("date +%s", "git log -1 --format=%ct"),
clamps times as "tar --clamp-mtime" does: no entry written is newer
than it, and older times are kept. Set it empty to ignore it.`

// sourceDateEpoch parses SOURCE_DATE_EPOCH: the zero time when it is unset
// or empty, and a usage error (exit 1) when it is not a whole number of
// seconds since 1970-01-01 UTC, as the specification asks.
func sourceDateEpoch(cmd *cobra.Command) (time.Time, error) {
	v := strings.TrimSpace(os.Getenv(sourceDateEpochEnv))
	if v == "" {
		return time.Time{}, nil
	}
	s, err := parseEpoch(v)
	if err != nil {
		return time.Time{}, usageErrorf(cmd, "invalid %s=%q: %v", sourceDateEpochEnv, v, err)
	}
	return s, nil
}

func parseEpoch(v string) (time.Time, error) {
	s, err := strconv.ParseInt(v, 10, 64)
	switch {
	case err != nil || strings.HasPrefix(v, "+"):
		return time.Time{}, fmt.Errorf("want a whole number of seconds since 1970-01-01 UTC")
	case s < 0:
		return time.Time{}, fmt.Errorf("want a time after 1970-01-01 UTC")
	case s > 253402300799: // 9999-12-31T23:59:59Z: RFC 3339 ends there
		return time.Time{}, fmt.Errorf("want a time before the year 10000")
	}
	return time.Unix(s, 0).UTC(), nil
}
