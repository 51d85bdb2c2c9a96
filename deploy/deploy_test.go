package deploy

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the rendered charts in testdata/")

const (
	chartDir = "helm/consentry"
	dataDir  = "/var/lib/consentry"
)

// objects are the decoded objects of one rendering or manifest file.
type objects struct {
	deployments []*appsv1.Deployment
	services    []*corev1.Service
	configMaps  []*corev1.ConfigMap
	secrets     []*corev1.Secret
	pvcs        []*corev1.PersistentVolumeClaim
	pdbs        []*policyv1.PodDisruptionBudget
	svcMonitors []*monitoringv1.ServiceMonitor
	podMonitors []*monitoringv1.PodMonitor
}

// decodeStrict decodes every document of a multi-document YAML stream into
// its Kubernetes API type; an unknown field, a duplicate field, a wrong type
// or an unknown kind fails.
func decodeStrict(t *testing.T, name string, stream []byte) *objects {
	t.Helper()
	objs := &objects{}
	for i, doc := range splitDocs(stream) {
		var meta struct{ APIVersion, Kind string }
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatalf("%s: document %d: %v", name, i, err)
		}
		if meta.APIVersion == "" && meta.Kind == "" {
			continue // only comments
		}
		var obj any
		switch meta.APIVersion + " " + meta.Kind {
		case "apps/v1 Deployment":
			o := &appsv1.Deployment{}
			objs.deployments, obj = append(objs.deployments, o), o
		case "v1 Service":
			o := &corev1.Service{}
			objs.services, obj = append(objs.services, o), o
		case "v1 ConfigMap":
			o := &corev1.ConfigMap{}
			objs.configMaps, obj = append(objs.configMaps, o), o
		case "v1 Secret":
			o := &corev1.Secret{}
			objs.secrets, obj = append(objs.secrets, o), o
		case "v1 PersistentVolumeClaim":
			o := &corev1.PersistentVolumeClaim{}
			objs.pvcs, obj = append(objs.pvcs, o), o
		case "policy/v1 PodDisruptionBudget":
			o := &policyv1.PodDisruptionBudget{}
			objs.pdbs, obj = append(objs.pdbs, o), o
		case "monitoring.coreos.com/v1 ServiceMonitor":
			o := &monitoringv1.ServiceMonitor{}
			objs.svcMonitors, obj = append(objs.svcMonitors, o), o
		case "monitoring.coreos.com/v1 PodMonitor":
			o := &monitoringv1.PodMonitor{}
			objs.podMonitors, obj = append(objs.podMonitors, o), o
		default:
			t.Fatalf("%s: document %d: no API type for %s %s (add it to decodeStrict)", name, i, meta.APIVersion, meta.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			t.Fatalf("%s: document %d (%s): %v", name, i, meta.Kind, err)
		}
	}
	return objs
}

func splitDocs(stream []byte) [][]byte {
	var docs [][]byte
	for _, d := range bytes.Split(append([]byte("\n"), stream...), []byte("\n---")) {
		if len(bytes.TrimSpace(d)) > 0 {
			docs = append(docs, d)
		}
	}
	return docs
}

// render renders the chart with vals over its defaults, as `helm template`
// would, and returns the manifests in file order (NOTES.txt aside).
func render(t *testing.T, vals map[string]any) ([]byte, error) {
	t.Helper()
	chrt, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	rv, err := chartutil.ToRenderValues(chrt, vals, chartutil.ReleaseOptions{Name: "consentry", Namespace: "analytics", IsInstall: true}, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(chrt, rv)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		if strings.HasSuffix(n, ".yaml") {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	var out bytes.Buffer
	for _, n := range names {
		if strings.TrimSpace(files[n]) == "" {
			continue
		}
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", n, strings.TrimSpace(files[n]))
	}
	return out.Bytes(), nil
}

func TestChartRendersValidObjects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mode   string
		vals   map[string]any
		golden string
		check  func(t *testing.T, o *objects)
	}{
		{name: "edge, defaults", mode: "edge", golden: "helm-edge.yaml"},
		{name: "sidecar", mode: "sidecar", golden: "helm-sidecar.yaml", vals: map[string]any{
			"mode": "sidecar", "replicas": 2,
			"config": map[string]any{"tenants": map[string]any{"acme": map[string]any{
				"formats": []any{"clevertap.rest"}, "upstream": "https://eu1.api.clevertap.com",
			}}},
		}},
		{
			name: "edge with a signed bundle, pinned image",
			mode: "edge",
			vals: map[string]any{
				"image":  map[string]any{"digest": "sha256:" + strings.Repeat("ab", 32)},
				"bundle": map[string]any{"enabled": true, "url": "https://policy.example.com/consentry.tar.gz", "publicKeySecret": "consentry-bundle-key"},
			},
			golden: "helm-edge-bundle.yaml",
			check: func(t *testing.T, o *objects) {
				c, _ := consentryContainer(o.deployments[0].Spec.Template.Spec)
				if !strings.HasSuffix(c.Image, "@sha256:"+strings.Repeat("ab", 32)) {
					t.Errorf("image not pinned by digest: %s", c.Image)
				}
				cfg := o.configMaps[0].Data["consentry.yaml"]
				if !strings.Contains(cfg, "file: /etc/consentry/bundle/bundle.pub") || !mounted(c, "/etc/consentry/bundle") {
					t.Errorf("bundle key not wired:\n%s", cfg)
				}
			},
		},
		{
			name: "sidecar, one replica, embedded registry on a volume",
			mode: "sidecar",
			vals: map[string]any{
				"mode": "sidecar", "replicas": 1,
				"postgres":    map[string]any{"enabled": false},
				"persistence": map[string]any{"enabled": true},
				"secrets":     map[string]any{"create": true, "existingSecret": "", "values": map[string]any{"ACME_HMAC_KEY": "x"}},
			},
			check: func(t *testing.T, o *objects) {
				d := o.deployments[0]
				if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
					t.Errorf("strategy %s: two pods would share the registry's volume", d.Spec.Strategy.Type)
				}
				if len(o.pvcs) != 1 || len(o.secrets) != 1 {
					t.Errorf("want a PVC and a Secret, got %d and %d", len(o.pvcs), len(o.secrets))
				}
				if strings.Contains(o.configMaps[0].Data["consentry.yaml"], "postgres") {
					t.Error("postgres configured although disabled")
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := render(t, tc.vals)
			if err != nil {
				t.Fatal(err)
			}
			o := decodeStrict(t, tc.name, out)
			checkDeployment(t, o, tc.mode)
			if tc.check != nil {
				tc.check(t, o)
			}
			if tc.golden != "" {
				compareGolden(t, tc.golden, out)
			}
		})
	}
}

func TestChartRefusesUnsafeValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		vals map[string]any
		want string
	}{
		{"unknown mode", map[string]any{"mode": "daemonset"}, `mode: "daemonset"`},
		{"fleet without postgres", map[string]any{"postgres": map[string]any{"enabled": false}}, "postgres.enabled: required with more than one replica"},
		{"no secret", map[string]any{"secrets": map[string]any{"existingSecret": ""}}, "secrets.existingSecret: required"},
		{"bundle without key", map[string]any{"bundle": map[string]any{"enabled": true, "url": "https://p.example/b.tar.gz"}}, "bundle.publicKeySecret: required"},
		{"volume with postgres", map[string]any{"persistence": map[string]any{"enabled": true}}, "persistence.enabled: not with postgres.enabled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(t, tc.vals)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestPlainManifests(t *testing.T) {
	for _, tc := range []struct{ file, mode string }{
		{"kubernetes/sidecar.yaml", "sidecar"},
		{"kubernetes/edge.yaml", "edge"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			checkDeployment(t, decodeStrict(t, tc.file, b), tc.mode)
		})
	}
	files, _ := filepath.Glob("kubernetes/*.yaml")
	if len(files) != 2 {
		t.Errorf("a manifest without a test: %v", files)
	}
}

// checkDeployment checks what every Consentry deployment must have, and
// that the objects refer to each other.
func checkDeployment(t *testing.T, o *objects, mode string) {
	t.Helper()
	if len(o.deployments) != 1 || len(o.configMaps) != 1 {
		t.Fatalf("want one Deployment and one ConfigMap, got %d and %d", len(o.deployments), len(o.configMaps))
	}
	d := o.deployments[0]
	pod := d.Spec.Template.Spec
	podLabels := labels.Set(d.Spec.Template.Labels)
	sel, err := metaSelector(d.Spec.Selector.MatchLabels)
	if err != nil || !sel.Matches(podLabels) {
		t.Errorf("the Deployment's selector does not match its pods")
	}
	c, sidecar := consentryContainer(pod)
	if c == nil {
		t.Fatal("no consentry container")
	}
	switch mode {
	case "sidecar":
		if !sidecar || c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
			t.Error("consentry is not a native sidecar (initContainers with restartPolicy: Always)")
		}
		if len(pod.Containers) == 0 {
			t.Error("no app container beside the sidecar")
		}
		if !slices.Contains(c.Args, "127.0.0.1:8080") {
			t.Errorf("the sidecar's proxy port is not on loopback: %v", c.Args)
		}
	case "edge":
		if sidecar {
			t.Error("edge mode runs consentry as a sidecar")
		}
		checkEdge(t, o, podLabels)
	}

	// Probes on the admin port.
	admin := port(c, "admin")
	if admin == 0 {
		t.Fatal("no admin port")
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"startupProbe", c.StartupProbe, "/readyz"}, {"readinessProbe", c.ReadinessProbe, "/readyz"}, {"livenessProbe", c.LivenessProbe, "/livez"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s: missing", p.name)
			continue
		}
		g := p.probe.HTTPGet
		if g.Path != p.path || (g.Port.StrVal != "admin" && g.Port.IntValue() != int(admin)) {
			t.Errorf("%s: %s on port %s, want %s on the admin port", p.name, g.Path, g.Port.String(), p.path)
		}
	}
	if !slices.Contains(c.Args, "--admin") || !slices.Contains(c.Args, fmt.Sprintf(":%d", admin)) {
		t.Errorf("args do not put the admin listener on port %d of the pod: %v", admin, c.Args)
	}

	// Security.
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Fatal("no securityContext")
	case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
		t.Error("runAsNonRoot is not set")
	case sc.RunAsUser == nil || *sc.RunAsUser == 0:
		t.Error("runAsUser is not a numeric non-root user")
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("the root filesystem is writable")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("allowPrivilegeEscalation is not false")
	case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL"):
		t.Error("capabilities are not dropped")
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the service account token is mounted (Consentry does not talk to the API server)")
	}

	// Data directory, config, secrets.
	if i := slices.Index(c.Args, "--data"); i < 0 || i+1 >= len(c.Args) || c.Args[i+1] != dataDir || !mounted(c, dataDir) {
		t.Errorf("%s is not the data directory or not mounted: %v", dataDir, c.Args)
	}
	for _, v := range pod.Volumes {
		for _, m := range c.VolumeMounts {
			if m.Name == v.Name && m.MountPath == dataDir && v.EmptyDir == nil && v.PersistentVolumeClaim == nil {
				t.Errorf("%s is neither an emptyDir nor a PVC", dataDir)
			}
		}
	}
	if !mounted(c, "/etc/consentry") || !slices.Contains(c.Args, "/etc/consentry/consentry.yaml") {
		t.Error("the config is not mounted at /etc/consentry")
	}
	if !fromSecret(c) {
		t.Error("no secret reaches the container (envFrom secretRef or secretKeyRef)")
	}
	for _, a := range c.Args {
		if strings.Contains(a, "pprof") {
			t.Errorf("args enable profiling: %v", c.Args)
		}
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources: want cpu and memory requests and a memory limit, got %v", c.Resources)
	}
	var cfg map[string]any
	if err := yaml.UnmarshalStrict([]byte(o.configMaps[0].Data["consentry.yaml"]), &cfg); err != nil || len(cfg) == 0 {
		t.Errorf("consentry.yaml in the ConfigMap: %v", err)
	}
	if grace := pod.TerminationGracePeriodSeconds; grace == nil || *grace < 25 {
		t.Error("terminationGracePeriodSeconds below drain_delay + grace (5s + 20s)")
	}
}

func checkEdge(t *testing.T, o *objects, podLabels labels.Set) {
	t.Helper()
	if len(o.services) < 2 || len(o.pdbs) != 1 || len(o.svcMonitors) != 1 {
		t.Fatalf("edge: want a proxy and an admin Service, a PodDisruptionBudget and a ServiceMonitor; got %d, %d, %d", len(o.services), len(o.pdbs), len(o.svcMonitors))
	}
	var adminSvc *corev1.Service
	for _, s := range o.services {
		if !labels.SelectorFromSet(s.Spec.Selector).Matches(podLabels) {
			t.Errorf("Service %s does not select the pods", s.Name)
		}
		for _, p := range s.Spec.Ports {
			if p.TargetPort.StrVal == "admin" {
				adminSvc = s
			}
		}
	}
	if adminSvc == nil {
		t.Fatal("no Service for the admin port")
	}
	for _, s := range o.services {
		if s != adminSvc && s.Spec.Type != corev1.ServiceTypeClusterIP && s.Spec.Type != "" {
			continue
		}
		if s != adminSvc {
			for _, p := range s.Spec.Ports {
				if p.TargetPort.StrVal == "admin" {
					t.Errorf("Service %s exposes the admin port with the proxy port", s.Name)
				}
			}
		}
	}
	if sel, err := metaSelector(o.pdbs[0].Spec.Selector.MatchLabels); err != nil || !sel.Matches(podLabels) {
		t.Error("the PodDisruptionBudget does not select the pods")
	}
	sm := o.svcMonitors[0]
	if sel, err := metaSelector(sm.Spec.Selector.MatchLabels); err != nil || !sel.Matches(labels.Set(adminSvc.Labels)) {
		t.Error("the ServiceMonitor does not select the admin Service")
	}
	for _, s := range o.services {
		if s != adminSvc {
			if sel, _ := metaSelector(sm.Spec.Selector.MatchLabels); sel.Matches(labels.Set(s.Labels)) {
				t.Errorf("the ServiceMonitor also selects Service %s", s.Name)
			}
		}
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "admin" || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("ServiceMonitor endpoints: %+v", sm.Spec.Endpoints)
	}
	cfg := o.configMaps[0].Data["consentry.yaml"]
	if !strings.Contains(cfg, "postgres:") || !strings.Contains(cfg, "env: CONSENTRY_PG_DSN") || !strings.Contains(cfg, "env: CONSENTRY_RIGHTS_KEY") {
		t.Errorf("edge: rights.postgres with the DSN and rights.key from the Secret:\n%s", cfg)
	}
}

func metaSelector(m map[string]string) (labels.Selector, error) {
	if len(m) == 0 {
		return nil, fmt.Errorf("empty selector")
	}
	return labels.SelectorFromSet(m), nil
}

// consentryContainer finds the container named consentry; sidecar is true
// when it is an init container.
func consentryContainer(pod corev1.PodSpec) (*corev1.Container, bool) {
	for i := range pod.InitContainers {
		if pod.InitContainers[i].Name == "consentry" {
			return &pod.InitContainers[i], true
		}
	}
	for i := range pod.Containers {
		if pod.Containers[i].Name == "consentry" {
			return &pod.Containers[i], false
		}
	}
	return nil, false
}

func port(c *corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

func mounted(c *corev1.Container, path string) bool {
	return slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == path })
}

func fromSecret(c *corev1.Container) bool {
	for _, e := range c.EnvFrom {
		if e.SecretRef != nil && e.SecretRef.Name != "" {
			return true
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			return true
		}
	}
	return false
}

// compareGolden keeps the rendered chart in testdata/, where reviewers read
// it and the product's config tests load its consentry.yaml.
func compareGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	header := []byte("# Rendered by deploy_test.go (go test -run TestChartRendersValidObjects -update); do not edit.\n")
	got = append(header, got...)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestChartRendersValidObjects -update in deploy/)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s changed; review and run go test -run TestChartRendersValidObjects -update in deploy/", path)
	}
}
