package e2e

import (
	"strings"
	"testing"
)

// TestHelpUsageLines: "--help" of every command, standalone and through
// the docker CLI, shows the command's own usage line, without cobra's
// "[flags]".
func TestHelpUsageLines(t *testing.T) {
	env := []string{"DOCKER_CONFIG=" + pluginConfig, "DOCKER_CONTEXT="}
	want := map[string]string{
		"inspect": "[OPTIONS] IMAGE", "extract": "[OPTIONS] IMAGE", "diff": "[OPTIONS] IMAGE",
		"compare": "[OPTIONS] IMAGE_A [IMAGE_B]", "ls": "[OPTIONS] IMAGE [PATH...]", "du": "[OPTIONS] IMAGE [PATH]",
		"efficiency": "[OPTIONS] IMAGE", "cat": "[OPTIONS] IMAGE PATH", "squash": "[OPTIONS] IMAGE",
		"report": "[OPTIONS] IMAGE", "version": "",
	}
	for cmd, args := range want {
		for _, standalone := range []bool{true, false} {
			var r result
			prefix := "docker layers "
			if standalone {
				r, prefix = runCmd(t, env, nil, binary, cmd, "--help"), "docker-layers "
			} else {
				r = runCmd(t, env, nil, "docker", "layers", cmd, "--help")
			}
			out := must(t, r)
			line := strings.TrimSpace(prefix + cmd + " " + args)
			if !strings.Contains(out, "Usage:  "+line+"\n") || strings.Contains(out, "[flags]") {
				t.Errorf("%s%s --help: want the usage line %q, without [flags]:\n%s", prefix, cmd, line, out)
			}
		}
	}
}
