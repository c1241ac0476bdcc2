package launch

import (
	_ "embed"
	"fmt"
	"strings"
)

// RunnerScript is Portico's component runner (runner.py): it runs the ApplicationSession
// classes of a container worker, or of a router worker's components, in one Python process.
// It is part of the binary and written to the runtime directory at start.
//
//go:embed runner.py
var RunnerScript []byte

// ResourceScript hosts a `resource` path service (resource.py): the Twisted Web resource
// class served with Twisted Web on a private unix socket. Part of the binary, as RunnerScript.
//
//go:embed resource.py
var ResourceScript []byte

// runnerPrefix starts every line the runner writes about a component.
const runnerPrefix = "portico-runner: "

// ExplainRunnerExit makes the error of a component runner that ended before all its
// components joined: the runner's own messages (which name the component, its config place
// and the cause), else the last lines of output.
func ExplainRunnerExit(place string) func(status string, code int, lines []string) error {
	return func(status string, code int, lines []string) error {
		var msgs []string
		in := false
		for _, l := range lines {
			switch {
			case strings.HasPrefix(l, runnerPrefix):
				msgs = append(msgs, strings.TrimPrefix(l, runnerPrefix))
				in = true
			case in && strings.HasPrefix(l, "    "):
				msgs = append(msgs, l)
			default:
				in = false
			}
		}
		if len(msgs) == 0 {
			msgs = lines
		}
		if len(msgs) > 60 {
			msgs = msgs[len(msgs)-60:]
		}
		return fmt.Errorf("%s: components did not start (%s):\n%s", place, status, indent(msgs))
	}
}
