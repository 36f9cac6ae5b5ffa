"""k8sgen: render cloud-init user-data that bootstraps a kubeadm cluster on first boot."""

__version__ = "0.1.0"
