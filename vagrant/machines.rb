# Maps each planned node to a Vagrant machine, with the Tart and libvirt blocks side by side:
# Vagrant configures only the provider it uses. Every value comes from the plan.
module K0sVagrant
  module Machines
    # Tart ignores vm.hostname (vagrant-tart has no SetHostname), and every clone is "ubuntu".
    HOSTNAME_SCRIPT = <<~'SH'.freeze
      set -eu
      hostnamectl set-hostname "$1"
      sed -i '/^127\.0\.1\.1[[:space:]]/d' /etc/hosts
      echo "127.0.1.1 $1" >> /etc/hosts
      if [ -d /etc/cloud/cloud.cfg.d ]; then echo 'preserve_hostname: true' > /etc/cloud/cloud.cfg.d/99-k0s-vagrant.cfg; fi
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
        override.vm.provision "hostname", type: "shell", inline: HOSTNAME_SCRIPT, args: [node["name"]]
      end
    end

    def self.libvirt(machine, libvirt_plan, node)
      machine.vm.provider :libvirt do |libvirt, override|
        override.vm.box = libvirt_plan["box"]
        override.vm.hostname = node["name"]
        override.vm.network :private_network, ip: node["ip"],
          libvirt__network_name: libvirt_plan["network_name"], libvirt__netmask: libvirt_plan["netmask"],
          libvirt__dhcp_enabled: false, libvirt__forward_mode: "none"
        libvirt.driver = libvirt_plan["driver"]
        if libvirt_plan["cpu_model"]
          libvirt.cpu_mode = "custom"
          libvirt.cpu_model = libvirt_plan["cpu_model"]
        end
        libvirt.cpus = node["cpus"]
        libvirt.memory = node["memory_mb"]
        libvirt.machine_virtual_size = node["disk_gb"]
        libvirt.graphics_type = "none"
      end
    end
  end
end
