# Hooks the helper into `vagrant up` and `vagrant destroy` with per-machine triggers, which work
# the same on every Vagrant >= 2.3 (command triggers need an experimental flag before 2.4):
# - after each machine's up, hand Vagrant's facts to `k0s-vagrant deploy`; the helper deploys
#   once every machine this `vagrant up` acts on has finished, and skips otherwise;
# - after each machine's destroy, `k0s-vagrant cleanup` tidies up once none is left.
require "fileutils"
require "json"

module K0sVagrant
  module Trigger
    # Parallel `vagrant up` runs machines in threads of one process: these are per process.
    LOCK = Mutex.new
    FINISHED = []

    def self.register(config, argv)
      config.trigger.after :up do |t|
        t.ruby { |env, machine| finished_up(env, machine, argv) }
      end
      config.trigger.after :destroy do |t|
        t.ruby { |_env, _machine| Helper.call("cleanup") || $stderr.puts("k0s-vagrant: cleanup failed; see above") }
      end
    end

    def self.finished_up(env, machine, argv)
      LOCK.synchronize do
        # A machine counts once per process, should its trigger ever fire again.
        return if FINISHED.include?(machine.name.to_s)
        FINISHED << machine.name.to_s
        facts = write_facts(env)
        return if Helper.call("deploy", "--facts", facts, "--", *argv)
        abort("k0s-vagrant: deploy failed (see above); fix the cause, then run `vagrant up` again or `k0s-vagrant deploy`")
      end
    end

    # Every machine's state and SSH endpoint as Vagrant sees them, and whether its `up` finished
    # in this process; the helper decides the rest.
    def self.write_facts(env)
      providers = env.active_machines.to_h
      machines = env.machine_names.map do |name|
        provider = providers[name]
        machine = provider && env.machine(name, provider)
        state = machine ? machine.state.id.to_s : "not_created"
        { name: name.to_s, provider: provider&.to_s, state: state, finished: FINISHED.include?(name.to_s),
          ssh: (ssh_facts(machine) if state == "running") }
      end
      path = File.join(env.local_data_path.to_s, "k0s", "vagrant-facts.json")
      FileUtils.mkdir_p(File.dirname(path))
      File.write(path, JSON.pretty_generate(machines: machines))
      path
    end

    def self.ssh_facts(machine)
      info = machine.ssh_info
      return nil unless info
      { host: info[:host], port: info[:port], username: info[:username],
        private_key_path: Array(info[:private_key_path]).first }
    end
  end
end
