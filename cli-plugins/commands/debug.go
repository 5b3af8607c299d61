package commands

import (
	"context"

	"github.com/containerd/log"
	"github.com/docker/cli/cli/streams"
	"github.com/sirupsen/logrus"
)

// withLogger returns ctx with the logger the libraries write their debug
// lines to (containerd/log's log.G(ctx)). It is set up as the docker CLI
// sets up its own: the level is the one its global -D and --log-level
// gave logrus's standard logger (docker -D layers …, docker-layers -D …),
// the output is stderr, and the format is logrus's text format, in
// colour on a terminal ("DEBU[0000] …"). So without -D nothing is written.
func withLogger(ctx context.Context, stderr *streams.Out) context.Context {
	l := logrus.New()
	l.SetOutput(stderr)
	l.SetLevel(logrus.GetLevel())
	l.SetFormatter(&logrus.TextFormatter{ForceColors: stderr.IsTerminal()})
	return log.WithLogger(ctx, logrus.NewEntry(l))
}
