package charttest

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// restrictedViolations checks a pod spec field by field against the Pod
// Security Standards' "restricted" profile (which includes "baseline"), as
// of Kubernetes v1.37, and returns what breaks it. A Pod's own fields are
// what the PodSecurity admission reads; a workload's template is checked
// the same way.
func restrictedViolations(spec corev1.PodSpec) []string {
	var v []string
	add := func(format string, a ...any) { v = append(v, fmt.Sprintf(format, a...)) }
	psc := spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}

	// baseline: host namespaces, host ports, hostPath, sysctls, SELinux, AppArmor, Windows host process.
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		add("host namespaces (hostNetwork %t, hostPID %t, hostIPC %t)", spec.HostNetwork, spec.HostPID, spec.HostIPC)
	}
	safeSysctls := []string{"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
		"net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time",
		"net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"}
	for _, s := range psc.Sysctls {
		if !slices.Contains(safeSysctls, s.Name) {
			add("unsafe sysctl %s", s.Name)
		}
	}
	checkSELinux := func(where string, o *corev1.SELinuxOptions) {
		if o == nil {
			return
		}
		if !slices.Contains([]string{"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}, o.Type) {
			add("%s: seLinuxOptions.type %q", where, o.Type)
		}
		if o.User != "" || o.Role != "" {
			add("%s: seLinuxOptions.user/role set", where)
		}
	}
	checkSELinux("pod", psc.SELinuxOptions)
	checkAppArmor := func(where string, p *corev1.AppArmorProfile) {
		if p != nil && p.Type != corev1.AppArmorProfileTypeRuntimeDefault && p.Type != corev1.AppArmorProfileTypeLocalhost {
			add("%s: appArmorProfile %s", where, p.Type)
		}
	}
	checkAppArmor("pod", psc.AppArmorProfile)
	if psc.WindowsOptions != nil && psc.WindowsOptions.HostProcess != nil && *psc.WindowsOptions.HostProcess {
		add("pod: windows hostProcess")
	}

	// restricted: volume types.
	for _, vol := range spec.Volumes {
		s := vol.VolumeSource
		switch {
		case s.ConfigMap != nil, s.CSI != nil, s.DownwardAPI != nil, s.EmptyDir != nil, s.Ephemeral != nil,
			s.PersistentVolumeClaim != nil, s.Projected != nil, s.Secret != nil:
		default:
			add("volume %s: a type restricted does not allow", vol.Name)
		}
	}

	// restricted: seccomp (pod level, or every container), non-root.
	podSeccompOK := psc.SeccompProfile != nil && seccompAllowed(psc.SeccompProfile)
	if psc.SeccompProfile != nil && !seccompAllowed(psc.SeccompProfile) {
		add("pod: seccompProfile %s", psc.SeccompProfile.Type)
	}
	podNonRoot := psc.RunAsNonRoot != nil && *psc.RunAsNonRoot
	if psc.RunAsNonRoot != nil && !*psc.RunAsNonRoot {
		add("pod: runAsNonRoot false")
	}
	if psc.RunAsUser != nil && *psc.RunAsUser == 0 {
		add("pod: runAsUser 0")
	}

	type named struct {
		name string
		c    corev1.Container
	}
	var all []named
	for _, c := range spec.InitContainers {
		all = append(all, named{"initContainer " + c.Name, c})
	}
	for _, c := range spec.Containers {
		all = append(all, named{"container " + c.Name, c})
	}
	for _, e := range spec.EphemeralContainers {
		all = append(all, named{"ephemeralContainer " + e.Name, corev1.Container(e.EphemeralContainerCommon)})
	}
	for _, n := range all {
		c, where := n.c, n.name
		for _, p := range c.Ports {
			if p.HostPort != 0 {
				add("%s: hostPort %d", where, p.HostPort)
			}
		}
		sc := c.SecurityContext
		if sc == nil {
			sc = &corev1.SecurityContext{}
		}
		if sc.Privileged != nil && *sc.Privileged {
			add("%s: privileged", where)
		}
		if sc.ProcMount != nil && *sc.ProcMount != corev1.DefaultProcMount {
			add("%s: procMount %s", where, *sc.ProcMount)
		}
		checkSELinux(where, sc.SELinuxOptions)
		checkAppArmor(where, sc.AppArmorProfile)
		if sc.WindowsOptions != nil && sc.WindowsOptions.HostProcess != nil && *sc.WindowsOptions.HostProcess {
			add("%s: windows hostProcess", where)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			add("%s: allowPrivilegeEscalation must be false", where)
		}
		switch {
		case sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot:
			add("%s: runAsNonRoot false", where)
		case sc.RunAsNonRoot == nil && !podNonRoot:
			add("%s: runAsNonRoot must be true (pod or container)", where)
		}
		if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			add("%s: runAsUser 0", where)
		}
		switch {
		case sc.SeccompProfile != nil && !seccompAllowed(sc.SeccompProfile):
			add("%s: seccompProfile %s", where, sc.SeccompProfile.Type)
		case sc.SeccompProfile == nil && !podSeccompOK:
			add("%s: seccompProfile must be RuntimeDefault or Localhost (pod or container)", where)
		}
		var drop, added []corev1.Capability
		if sc.Capabilities != nil {
			drop, added = sc.Capabilities.Drop, sc.Capabilities.Add
		}
		if !slices.Contains(drop, "ALL") {
			add("%s: capabilities must drop ALL", where)
		}
		for _, c := range added {
			if c != "NET_BIND_SERVICE" {
				add("%s: adds capability %s", where, c)
			}
		}
	}
	return v
}

func seccompAllowed(p *corev1.SeccompProfile) bool {
	return p.Type == corev1.SeccompProfileTypeRuntimeDefault || p.Type == corev1.SeccompProfileTypeLocalhost
}
