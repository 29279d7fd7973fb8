//! kubesim: a strict simulated Kubernetes control plane and kubelet, served over real HTTP on loopback.
