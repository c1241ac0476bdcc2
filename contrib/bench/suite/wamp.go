package main

import "context"

func wampHalf(ctx context.Context, ps *procs, tmp, portico string) (string, error) {
	return "## WAMP\n\nWAMP: router not available\n", nil
}
