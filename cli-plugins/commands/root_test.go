package commands

import (
	"strings"
	"testing"
)

// TestUseLines: every command's usage line is its Use, which names its
// options, without cobra's "[flags]" (DisableFlagsInUseLine, as docker/cli
// sets it), standalone and as a plugin.
func TestUseLines(t *testing.T) {
	for _, plugin := range []bool{false, true} {
		root := NewRootCommand(nil, plugin)
		for _, c := range append(root.Commands(), root) {
			if strings.Contains(c.UseLine(), "[flags]") {
				t.Errorf("plugin %v: %q has [flags]", plugin, c.UseLine())
			}
		}
	}
}
