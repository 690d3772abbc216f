package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc/<pid>/stat. It is 100 on every
// Linux architecture Go supports (the kernel's ABI fixes it, whatever CONFIG_HZ is).
const clockTicks = 100

// parseStatCPU returns the user and system CPU time of a process from the contents of
// /proc/<pid>/stat (fields 14 and 15, utime and stime, in clock ticks). The command name in
// field 2 may hold spaces and parentheses, so fields are counted after its last ')'.
func parseStatCPU(stat []byte) (time.Duration, error) {
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, errors.New("proc stat: no command name")
	}
	// After ") " come field 3 (state), 4, …; utime is field 14, i.e. index 11 here.
	fields := strings.Fields(string(stat[end+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("proc stat: %d fields after the command name, want at least 13", len(fields))
	}
	utime, err := strconv.ParseUint(fields[11], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("proc stat: utime: %w", err)
	}
	stime, err := strconv.ParseUint(fields[12], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("proc stat: stime: %w", err)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// parseStatusKiB returns the value in KiB of a "Name:   1234 kB" line of
// /proc/<pid>/status (e.g. VmHWM, the peak resident set size; VmRSS, the current one).
func parseStatusKiB(status []byte, name string) (int64, error) {
	for line := range strings.Lines(string(status)) {
		rest, ok := strings.CutPrefix(line, name+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("proc status: malformed %s line %q", name, strings.TrimSpace(line))
		}
		return strconv.ParseInt(f[0], 10, 64)
	}
	return 0, fmt.Errorf("proc status: no %s line", name)
}

// procUsage is what /proc says about one process at one moment.
type procUsage struct {
	CPU     time.Duration // user + system time since the process started
	PeakKiB int64         // VmHWM: the peak resident set size so far
}

// readUsage reads the CPU time and peak RSS of process pid.
func readUsage(pid int) (procUsage, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procUsage{}, err
	}
	cpu, err := parseStatCPU(stat)
	if err != nil {
		return procUsage{}, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procUsage{}, err
	}
	hwm, err := parseStatusKiB(status, "VmHWM")
	if err != nil {
		return procUsage{}, err
	}
	return procUsage{CPU: cpu, PeakKiB: hwm}, nil
}

// sampler polls a process's usage until stopped, keeping the last reading. The last reading
// is what counts: VmHWM only grows and CPU time only adds up, but both vanish when the
// process exits, so they must be read while it lives.
type sampler struct {
	pid  int
	stop chan struct{}
	done chan struct{}

	mu   sync.Mutex
	last procUsage
}

// startSampler polls pid every interval until stop is called.
func startSampler(pid int, interval time.Duration) *sampler {
	s := &sampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	s.poll()
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.poll()
			}
		}
	}()
	return s
}

func (s *sampler) poll() {
	u, err := readUsage(s.pid)
	if err != nil {
		return // the process is gone; keep the last reading
	}
	s.mu.Lock()
	s.last = u
	s.mu.Unlock()
}

// now reads the process at once (if it still lives) and returns the latest reading.
func (s *sampler) now() procUsage {
	s.poll()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// close stops polling; it is safe to call more than once.
func (s *sampler) close() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
}

// cpuTimes are the machine-wide counters of the "cpu" line of /proc/stat, in clock ticks.
type cpuTimes struct {
	Total, Idle, Steal uint64
}

// parseProcStat reads the aggregate "cpu" line of /proc/stat: user nice system idle iowait
// irq softirq steal [guest guest_nice]. Guest time is already counted in user and nice, so
// it is left out of the total.
func parseProcStat(stat []byte) (cpuTimes, error) {
	for line := range strings.Lines(string(stat)) {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "cpu" {
			continue
		}
		if len(f) < 9 {
			return cpuTimes{}, fmt.Errorf("proc stat: short cpu line %q", strings.TrimSpace(line))
		}
		var v [8]uint64
		for i := range v {
			n, err := strconv.ParseUint(f[i+1], 10, 64)
			if err != nil {
				return cpuTimes{}, fmt.Errorf("proc stat: cpu field %d: %w", i+1, err)
			}
			v[i] = n
		}
		var t cpuTimes
		for _, n := range v {
			t.Total += n
		}
		t.Idle = v[3] + v[4]
		t.Steal = v[7]
		return t, nil
	}
	return cpuTimes{}, errors.New("proc stat: no cpu line")
}

// machineCPU reads /proc/stat; the zero value when it cannot.
func machineCPU() cpuTimes {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}
	}
	t, _ := parseProcStat(b)
	return t
}

// stealPercent returns the share of the machine's CPU time between a and b that the
// hypervisor gave to others (steal), in percent.
func stealPercent(a, b cpuTimes) float64 {
	if b.Total <= a.Total {
		return 0
	}
	return 100 * float64(b.Steal-a.Steal) / float64(b.Total-a.Total)
}

// selfCPU returns the CPU time this process has used.
func selfCPU() time.Duration {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	d, _ := parseStatCPU(b)
	return d
}
