# Maps each planned node to a Vagrant machine, with the Tart and libvirt blocks side by side:
# Vagrant configures only the provider it uses. Every value comes from the plan.
module K0sVagrant
  module Machines
    # Tart only, at a machine's first `up`. vagrant-tart has no SetHostname, so vm.hostname is
    # ignored and every clone is "ubuntu"; clones also share the image's /etc/machine-id
    # (cirruslabs/linux-image-templates resets none). Each node gets its name and a machine-id of
    # its own; the marker keeps a later `vagrant provision` from changing it under a running k0s.
    TART_NODE_SCRIPT = <<~'SH'.freeze
      set -eu
      hostnamectl set-hostname "$1"
      sed -i '/^127\.0\.1\.1[[:space:]]/d' /etc/hosts
      echo "127.0.1.1 $1" >> /etc/hosts
      if [ -d /etc/cloud/cloud.cfg.d ]; then echo 'preserve_hostname: true' > /etc/cloud/cloud.cfg.d/99-k0s-vagrant.cfg; fi
      if [ ! -e /etc/k0s-vagrant-machine-id ]; then
        rm -f /etc/machine-id /var/lib/dbus/machine-id
        systemd-machine-id-setup >/dev/null
        cp /etc/machine-id /etc/k0s-vagrant-machine-id
      fi
    SH

    def self.define(config, plan)
      # k0sctl copies everything over SSH; no node needs the project folder.
      config.vm.synced_folder ".", "/vagrant", disabled: true
      plan["nodes"].each do |node|
        config.vm.define node["name"] do |machine|
          tart(machine, plan["providers"]["tart"], node)
          libvirt(machine, plan["providers"]["libvirt"], node)
        end
      end
    end

    def self.tart(machine, tart_plan, node)
      machine.vm.provider :tart do |tart, override|
        tart.image = tart_plan["image"]
        tart.name = tart_plan["vm_names"][node["name"]]
        tart.cpus = node["cpus"]
        tart.memory = node["memory_mb"]
        tart.disk = node["disk_gb"]
        tart.extra_run_args = tart_plan["run_args"]
        override.ssh.username = tart_plan["ssh_user"]
        override.ssh.password = tart_plan["ssh_password"]
        override.vm.provision "node", type: "shell", inline: TART_NODE_SCRIPT, args: [node["name"]]
      end
    end

    def self.libvirt(machine, libvirt_plan, node)
      machine.vm.provider :libvirt do |libvirt, override|
        override.vm.box = libvirt_plan["box"]
        # Vagrant >= 2.4 only (the helper leaves it out for older ones, which reject the setting).
        override.vm.box_architecture = libvirt_plan["box_architecture"] if libvirt_plan["box_architecture"]
        override.vm.hostname = node["name"]
        override.vm.network :private_network, ip: node["ip"],
          libvirt__network_name: libvirt_plan["network_name"], libvirt__netmask: libvirt_plan["netmask"],
          libvirt__dhcp_enabled: false, libvirt__forward_mode: "none"
        libvirt.driver = libvirt_plan["driver"]
        libvirt.cpu_mode = libvirt_plan["cpu_mode"] if libvirt_plan["cpu_mode"]
        libvirt.cpu_model = libvirt_plan["cpu_model"] if libvirt_plan["cpu_model"]
        libvirt.cpus = node["cpus"]
        libvirt.memory = node["memory_mb"]
        libvirt.machine_virtual_size = node["disk_gb"]
        libvirt.graphics_type = "none"
      end
    end
  end
end
