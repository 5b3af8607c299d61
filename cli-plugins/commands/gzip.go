package commands

import (
	"os"
	"os/exec"
)

// igzipEnv chooses the program that inflates gzip layers (the containerd
// image store's) and gzip archives.
const igzipEnv = "DOCKER_LAYERS_IGZIP"

// gzipProgram returns the program extract inflates gzip with, for
// extract.Options.GzipProgram: ISA-L's igzip when it is in PATH (apt-get
// install isal), more than twice as fast as the built-in inflater. With
// DOCKER_LAYERS_IGZIP=0 it is "", the built-in inflater; any other value
// is the program to run.
func gzipProgram() string {
	switch v := os.Getenv(igzipEnv); v {
	case "0":
		return ""
	case "":
		p, err := exec.LookPath("igzip")
		if err != nil {
			return ""
		}
		return p
	default:
		return v
	}
}
