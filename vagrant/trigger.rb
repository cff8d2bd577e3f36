# Hooks the helper into `vagrant up`, `vagrant resume` and `vagrant destroy` with per-machine
# triggers, which work the same on every Vagrant >= 2.3 (command triggers need an experimental
# flag before 2.4):
# - after each machine's up or resume, hand Vagrant's facts to `k0s-vagrant deploy`; the helper
#   deploys once every machine this command acts on has finished, and skips otherwise;
# - before each machine's destroy, `k0s-vagrant remove --before-destroy` takes the machines this
#   `vagrant destroy` names out of the running cluster (drain, etcd leave) unless it destroys them
#   all, or stops the destroy;
# - before each machine's halt, `k0s-vagrant stop --before-halt` stops k0s on it where the
#   provider powers the VM off without a guest shutdown (Tart); it never stops the halt;
# - after each machine's destroy, `k0s-vagrant cleanup` tidies up once none is left.
require "fileutils"
require "json"

module K0sVagrant
  module Trigger
    # Parallel `vagrant up` runs machines in threads of one process: these are per process.
    LOCK = Mutex.new
    FINISHED = []

    def self.register(config, argv)
      register_resume(config, argv)
      config.trigger.after :up do |t|
        t.ruby { |env, machine| finished_up(env, machine, argv) }
      end
      config.trigger.before :halt do |t|
        t.ruby do |_env, machine|
          Helper.call("stop", "--before-halt", "--state", machine.state.id.to_s, machine.name.to_s) ||
            $stderr.puts("k0s-vagrant: stop before halt failed; see above")
        end
      end
      config.trigger.before :destroy do |t|
        t.ruby { |_env, _machine| before_destroy(argv) }
      end
      config.trigger.after :destroy do |t|
        t.ruby { |_env, _machine| Helper.call("cleanup") || $stderr.puts("k0s-vagrant: cleanup failed; see above") }
      end
    end

    # `vagrant resume` runs each machine's :resume action, never :up, so `after :up` does not
    # fire (hashicorp/vagrant plugins/commands/resume/command.rb: `machine.action(:resume, ...)`;
    # action triggers match the action's name, lib/vagrant/action/builder.rb
    # `apply_action_name`). The same path as up: the helper reads `resume` like `up`.
    def self.register_resume(config, argv)
      config.trigger.after :resume do |t|
        t.ruby { |env, machine| finished_up(env, machine, argv) }
      end
    end

    def self.finished_up(env, machine, argv)
      LOCK.synchronize do
        # A machine counts once per process, should its trigger ever fire again.
        return if FINISHED.include?(machine.name.to_s)
        FINISHED << machine.name.to_s
        facts = write_facts(env)
        return if Helper.call("deploy", "--facts", facts, "--", *argv)
        fail_up
      end
    end

    # The helper decides whether the destroyed machines must leave the cluster first; a second
    # machine's trigger finds them gone already.
    def self.before_destroy(argv)
      LOCK.synchronize do
        return if Helper.call("remove", "--before-destroy", "--", *argv)
        fail_with("k0s-vagrant: nothing was destroyed (see above)")
      end
    end

    def self.fail_up
      fail_with("k0s-vagrant: deploy failed (see above); fix the cause, then run `vagrant up` again or `k0s-vagrant deploy`")
    end

    # Ends the Vagrant command with the helper's lines, this one, and exit status 1. An exception here
    # would reach Vagrant's BatchAction, which wraps it in "An unexpected error occurred ...
    # Please report this as a bug" and a backtrace (`abort` raises SystemExit, not a VagrantError;
    # lib/vagrant/batch_action.rb), or in a multi-line box for a VagrantError. SystemExit in the
    # main thread passes bin/vagrant's rescue silently (it re-raises all but VagrantError), so
    # Vagrant's ensure blocks and locks still unwind.
    def self.fail_with(message)
      $stderr.puts(message)
      $stderr.flush
      Thread.main.raise(SystemExit.new(1))
      sleep # this machine's thread goes no further; the process ends with the main thread
    end

    # Every machine's state and SSH endpoint as Vagrant sees them, and whether its `up` (or
    # `resume`) finished in this process; the helper decides the rest.
    def self.write_facts(env)
      providers = env.active_machines.to_h
      machines = env.machine_names.map do |name|
        provider = providers[name]
        machine = provider && env.machine(name, provider)
        state = machine ? machine.state.id.to_s : "not_created"
        { name: name.to_s, provider: provider&.to_s, id: machine&.id, state: state,
          finished: FINISHED.include?(name.to_s), ssh: (ssh_facts(machine) if state == "running") }
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
