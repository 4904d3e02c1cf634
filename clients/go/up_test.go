package drover_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// schedulerAddr is the address of the `drover up` that TestMain starts for every test.
var schedulerAddr string

// TestMain runs the tests against a real Drover: `$DROVER_BIN up` (default
// ../../target/debug/drover) with one browser and the stand-in AI provider, on an ephemeral
// port, stopped with SIGTERM afterwards.
func TestMain(m *testing.M) {
	up, err := startDrover()
	if err != nil {
		fmt.Fprintln(os.Stderr, "drover up:", err)
		os.Exit(1)
	}
	schedulerAddr = up.addr
	code := m.Run()
	if err := up.stop(); err != nil {
		fmt.Fprintln(os.Stderr, "drover up:", err)
		code = 1
	}
	os.Exit(code)
}

// droverUp is a running `drover up` process.
type droverUp struct {
	cmd    *exec.Cmd
	addr   string
	log    *os.File   // its stderr, shown when something goes wrong
	exited chan error // receives cmd.Wait's result once
}

const (
	readyLine    = "drover up: scheduler listening on "
	startTimeout = 60 * time.Second
	stopTimeout  = 30 * time.Second
)

func startDrover() (*droverUp, error) {
	bin := os.Getenv("DROVER_BIN")
	if bin == "" {
		bin = filepath.Join("..", "..", "target", "debug", "drover")
	}
	bin, err := filepath.Abs(bin)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%w (build it with `cargo build --locked -p drover` or set DROVER_BIN)", err)
	}
	log, err := os.CreateTemp("", "drover-up-*.log")
	if err != nil {
		return nil, err
	}
	// stdout goes through an os.Pipe rather than cmd.StdoutPipe so that Wait never waits on
	// (or closes) it: the process can be reaped whether or not anything still reads.
	stdout, stdoutWriter, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "up", "--listen", "127.0.0.1:0", "--metrics-listen", "off", "--browsers", "1")
	cmd.Stdout = stdoutWriter
	cmd.Stderr = log
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	dieWithParent(cmd.SysProcAttr)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stdoutWriter.Close()

	up := &droverUp{cmd: cmd, log: log, exited: make(chan error, 1)}
	go func() { up.exited <- cmd.Wait() }()
	ready := make(chan string, 1)
	go func() {
		defer stdout.Close()
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			if addr, ok := strings.CutPrefix(lines.Text(), readyLine); ok {
				ready <- strings.TrimSpace(addr)
			}
			// Keep reading so the process never blocks on a full pipe.
		}
	}()

	select {
	case up.addr = <-ready:
		return up, nil
	case err := <-up.exited:
		up.exited <- err
		return nil, fmt.Errorf("exited before it was ready (%v)%s", err, up.logTail())
	case <-time.After(startTimeout):
		up.kill()
		return nil, fmt.Errorf("not ready after %s%s", startTimeout, up.logTail())
	}
}

// stop sends SIGTERM and waits for a clean exit (it closes its browsers on the way out).
func (up *droverUp) stop() error {
	if err := up.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case err := <-up.exited:
		if err != nil {
			return fmt.Errorf("exited with %v after SIGTERM%s", err, up.logTail())
		}
		up.log.Close()
		os.Remove(up.log.Name())
		return nil
	case <-time.After(stopTimeout):
		up.kill()
		return fmt.Errorf("still running %s after SIGTERM; killed%s", stopTimeout, up.logTail())
	}
}

// kill ends the process for good and reaps it.
func (up *droverUp) kill() {
	up.cmd.Process.Kill()
	<-up.exited
}

// logTail is the end of the process's stderr, to explain a failure.
func (up *droverUp) logTail() string {
	data, err := os.ReadFile(up.log.Name())
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	lines = lines[max(0, len(lines)-40):]
	return fmt.Sprintf("; log %s ends:\n%s", up.log.Name(), strings.Join(lines, "\n"))
}
