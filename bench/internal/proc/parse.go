package proc

import (
	"bytes"
	"fmt"
	"strconv"
	"time"
)

// clockTick is USER_HZ, the unit of utime/stime in /proc/<pid>/stat; the
// kernel reports it as 100 on every architecture Go supports.
const clockTick = 10 * time.Millisecond

// maxTicks bounds parsed tick counts (~350 years) so that sums of them
// cannot overflow a time.Duration.
const maxTicks = 1 << 40

// parseStat extracts utime + stime from a /proc/<pid>/stat line. The
// command name (field 2) may contain spaces and parentheses, so fields are
// counted from the last ')'.
func parseStat(raw []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0, fmt.Errorf("cannot parse /proc stat: no command field")
	}
	f := bytes.Fields(raw[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("cannot parse /proc stat: %d fields", len(f)+2)
	}
	u, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	s, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil || u > maxTicks || s > maxTicks {
		return 0, fmt.Errorf("cannot parse /proc stat utime/stime")
	}
	return time.Duration(u+s) * clockTick, nil
}

func parseSystemStat(raw []byte) (time.Duration, error) {
	line, _, _ := bytes.Cut(raw, []byte{'\n'})
	f := bytes.Fields(line)
	if len(f) < 9 || string(f[0]) != "cpu" {
		return 0, fmt.Errorf("cannot parse /proc/stat: unexpected first line")
	}
	var busy uint64
	// user nice system idle iowait irq softirq steal
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, err := strconv.ParseUint(string(f[i]), 10, 64)
		if err != nil || v > maxTicks {
			return 0, fmt.Errorf("cannot parse /proc/stat: field %d out of range", i)
		}
		busy += v
	}
	return time.Duration(busy) * clockTick, nil
}

// parsePerCPU returns the busy time of each CPU from the cpuN lines of
// /proc/stat, indexed by N.
func parsePerCPU(raw []byte) ([]time.Duration, error) {
	var out []time.Duration
	for len(raw) > 0 {
		var line []byte
		line, raw, _ = bytes.Cut(raw, []byte{'\n'})
		if !bytes.HasPrefix(line, []byte("cpu")) || bytes.HasPrefix(line, []byte("cpu ")) {
			continue
		}
		f := bytes.Fields(line)
		n, err := strconv.Atoi(string(f[0][3:]))
		if err != nil || n < 0 || n > 1<<12 {
			return nil, fmt.Errorf("cannot parse /proc/stat: bad CPU line")
		}
		busy, err := parseSystemStat(append([]byte("cpu "), bytes.Join(f[1:], []byte{' '})...))
		if err != nil {
			return nil, err
		}
		for len(out) <= n {
			out = append(out, 0)
		}
		out[n] = busy
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("cannot parse /proc/stat: no cpuN lines")
	}
	return out, nil
}
