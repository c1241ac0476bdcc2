package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"
)

// notifier speaks systemd's notify protocol (sd_notify(3)) when Portico runs as a
// Type=notify service: READY=1 once every listener is open and every launched app answered,
// RELOADING=1 and READY=1 around a SIGHUP reload, STOPPING=1 at stop, and watchdog pings
// when the unit sets WatchdogSec. Outside systemd (no NOTIFY_SOCKET) it does nothing.
//
// NOTIFY_SOCKET stays in Portico's environment: gateway/launch gives every child its own
// (a launched uwsgi's READY=1 goes to its supervisor, never to systemd).
type notifier struct {
	log *slog.Logger
}

func (n notifier) send(state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		n.log.Warn("systemd notify", "state", state, "error", err)
	}
}

func (n notifier) ready(status string) { n.send("READY=1\nSTATUS=" + status) }

// reloading tells systemd a reload began. MONOTONIC_USEC is what Type=notify-reload
// (systemd 253) asks for, so that it can tell this reload from an earlier one.
func (n notifier) reloading() {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		n.send("RELOADING=1")
		return
	}
	n.send(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", ts.Nano()/1000))
}

func (n notifier) stopping() { n.send("STOPPING=1") }

// watchdog pings systemd at half the unit's WatchdogSec (WATCHDOG_USEC, for this process
// when WATCHDOG_PID names it) until ctx ends. systemd kills and, by the unit's Restart=,
// restarts a Portico whose pings stop: a process wedged so badly that this goroutine no
// longer runs.
func (n notifier) watchdog(ctx context.Context) {
	every, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		n.log.Warn("systemd watchdog", "error", err)
		return
	}
	if every <= 0 {
		return
	}
	n.log.Info("systemd watchdog", "every", every/2)
	go func() {
		t := time.NewTicker(every / 2)
		defer t.Stop()
		for {
			n.send("WATCHDOG=1")
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			}
		}
	}()
}
