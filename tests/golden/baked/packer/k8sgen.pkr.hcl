# Packer template written by k8sgen for cluster baked: bakes ubuntu 24.04 with
# Kubernetes 1.33.6 (packages installed and held, containerd configured, images
# pre-pulled), so that nodes booted from the image with user-data rendered from a spec with
# `bootstrap.baked: true` run only kubeadm and the CNI. See README.md beside this file.
#
#   packer init .
#   packer build -var base_image_url=URL -var base_image_checksum=sha256:HEX \
#     -var ssh_private_key_file=~/.ssh/id_ed25519 -var ssh_public_key="$(cat ~/.ssh/id_ed25519.pub)" .

packer {
  required_version = ">= 1.10.0"
  required_plugins {
    qemu = {
      source  = "github.com/hashicorp/qemu"
      version = ">= 1.1.0"
    }
  }
}

variable "base_image_url" {
  type        = string
  description = "The ubuntu 24.04 cloud image (qcow2) to start from: a local path or a URL on a mirror you reach."
}

variable "base_image_checksum" {
  type        = string
  description = "Checksum of base_image_url, e.g. sha256:HEX or file:SHA256SUMS."
}

variable "ssh_username" {
  type        = string
  default     = "ubuntu"
  description = "The cloud image's default user (cloud-init creates it; the bake removes its build key)."
}

variable "ssh_public_key" {
  type        = string
  description = "Public key that Packer logs in with while baking (written by the seed, removed at the end)."
}

variable "ssh_private_key_file" {
  type        = string
  description = "Private key file of ssh_public_key."
}

variable "accelerator" {
  type        = string
  default     = "kvm"
  description = "QEMU accelerator: kvm, or tcg where KVM is not available (much slower)."
}

variable "disk_size" {
  type        = string
  default     = "20G"
  description = "Size of the baked disk."
}

variable "output_directory" {
  type        = string
  default     = "output-k8sgen-baked-k8s-1.33.6-ubuntu-24.04"
  description = "Where the baked qcow2 image is written."
}

source "qemu" "k8sgen" {
  disk_image       = true
  iso_url          = var.base_image_url
  iso_checksum     = var.base_image_checksum
  output_directory = var.output_directory
  vm_name          = "k8sgen-baked-k8s-1.33.6-ubuntu-24.04.qcow2"
  format           = "qcow2"
  disk_size        = var.disk_size
  disk_compression = true
  accelerator      = var.accelerator
  headless         = true
  memory           = 2048
  cpus             = 2
  net_device       = "virtio-net"
  disk_interface   = "virtio"
  # A NoCloud seed for the bake only: the build key for the default user, nothing else.
  cd_label = "cidata"
  cd_content = {
    "meta-data" = jsonencode({ "instance-id" = "k8sgen-bake" })
    "user-data" = join("\n", ["#cloud-config", jsonencode({ ssh_authorized_keys = [var.ssh_public_key] })])
  }
  communicator         = "ssh"
  ssh_username         = var.ssh_username
  ssh_private_key_file = var.ssh_private_key_file
  ssh_timeout          = "30m"
  shutdown_command     = "sudo shutdown -P now"
}

build {
  name    = "k8sgen"
  sources = ["source.qemu.k8sgen"]

  # The configuration files of the image (apt sources, containerd, sysctl, ...).
  provisioner "shell" {
    inline = ["mkdir -p /tmp/k8sgen-files"]
  }

  provisioner "file" {
    source      = "${path.root}/files/"
    destination = "/tmp/k8sgen-files"
  }

  # Phases files, prepare, install, runtime, prepull, then the seal of the image for its first real boot.
  provisioner "shell" {
    script           = "${path.root}/bake.sh"
    environment_vars = ["K8SGEN_FILES=/tmp/k8sgen-files", "K8SGEN_BAKE_USER=${var.ssh_username}"]
    execute_command  = "sudo -S env {{ .Vars }} bash {{ .Path }}"
  }
}
