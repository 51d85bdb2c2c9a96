package formatstest

import "github.com/consentry/consentry/formats"

// Subjects is a fake rights registry: suppressed identities and devices.
type Subjects struct {
	suppressed map[string]bool
	// Observed are the signals learned, in order.
	Observed []formats.Signals
}

var _ formats.Subjects = (*Subjects)(nil)

// Suppress is a registry in which ids (identities or devices) are
// suppressed.
func Suppress(ids ...string) *Subjects {
	s := &Subjects{suppressed: make(map[string]bool, len(ids))}
	for _, id := range ids {
		s.suppressed[id] = true
	}
	return s
}

// Observe records sig.
func (s *Subjects) Observe(_ string, _ formats.Subject, sig formats.Signals) error {
	s.Observed = append(s.Observed, sig)
	return nil
}

// Suppressed reports whether the subject's identity or device is suppressed.
func (s *Subjects) Suppressed(_ string, subj formats.Subject) (bool, error) {
	return s.suppressed[string(subj.Identity)] || s.suppressed[string(subj.Device)], nil
}

// Admit is formats.Subjects: learn, then refuse suppressed subjects; a
// record carrying an opt-out or opt-in signal is forwarded.
func (s *Subjects) Admit(tenant string, subj formats.Subject, sig formats.Signals) (bool, error) {
	if sig.OptOut != 0 || sig.HasMarketing() || (len(subj.Identity) > 0 && len(subj.Device) > 0) {
		if err := s.Observe(tenant, subj, sig); err != nil {
			return false, err
		}
	}
	if sig.OptOut != 0 {
		return true, nil
	}
	drop, err := s.Suppressed(tenant, subj)
	return !drop, err
}
