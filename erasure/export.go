package erasure

// Account returns the vendor's account as New completed it (BaseURL
// defaulted and without a trailing slash). The access document
// (package vendoraccess) asks the same account what it holds on a subject.
// Token is the Vendor's own slice: read it, never modify it.
func (v *Vendor) Account() Config { return v.cfg }
