# Finds (and if needed builds) the k0s-vagrant helper and asks it for the node plan.
# Ruby decides nothing here: the helper reads the settings, validates them and owns the plan lock.
require "json"
require "open3"

module K0sVagrant
  module Helper
    ROOT = File.expand_path("..", __dir__)
    SCHEMA_VERSION = 1
    # What the release binary is built from; a newer file here means a rebuild.
    SOURCES = ["src/**/*", "templates/**/*", "Cargo.lock", "Cargo.toml"].freeze

    # The node plan for this vagrant command line, parsed and checked. Aborts on any failure.
    def self.plan(argv)
      out, err, status = run(binary, "plan", "--format", "json", "--vagrant-version", Vagrant::VERSION,
                             "--project-dir", ROOT, "--", *argv)
      # The helper's own lines were passed on as they came; SystemExit ends Vagrant quietly, as abort does.
      abort("k0s-vagrant: plan failed with exit code #{status.exitstatus}") if !status.success? && err.strip.empty?
      exit(1) unless status.success?
      plan = parse(out)
      unless plan["schema_version"] == SCHEMA_VERSION
        abort("k0s-vagrant: the helper answered plan schema #{plan["schema_version"].inspect}, this Vagrantfile reads " \
              "#{SCHEMA_VERSION}; rebuild it with `cargo build --release --locked`")
      end
      plan
    end

    # Runs a helper command with its output going straight to the user; true on success.
    # The global --project-dir goes first: a command's own `--` would swallow it.
    def self.call(*args)
      system(binary, "--project-dir", ROOT, *args)
    end

    # K0S_VAGRANT_BIN as given, else target/release/k0s-vagrant, built when missing or stale.
    def self.binary
      given = ENV["K0S_VAGRANT_BIN"].to_s
      return given unless given.empty?
      bin = File.join(ROOT, "target", "release", "k0s-vagrant")
      build(bin) if stale?(bin)
      bin
    end

    def self.stale?(bin)
      return true unless File.exist?(bin)
      built = File.mtime(bin)
      SOURCES.any? { |pattern| Dir.glob(File.join(ROOT, pattern)).any? { |f| File.mtime(f) > built } }
    end

    def self.build(bin)
      what = File.exist?(bin) ? "rebuilding the helper (sources changed)" : "building the helper; the first build takes a few minutes"
      $stderr.puts("k0s-vagrant: #{what}: cargo build --release --locked")
      # An explicit target dir, so a CARGO_TARGET_DIR in the environment cannot move the binary.
      ok = system("cargo", "build", "--release", "--locked", "--target-dir", File.join(ROOT, "target"), chdir: ROOT, out: :err)
      return if ok
      abort(ok.nil? ? "k0s-vagrant: cargo not found; install Rust (https://rustup.rs) or set K0S_VAGRANT_BIN to a built k0s-vagrant" \
                    : "k0s-vagrant: building the helper failed (see the cargo output above); fix it or set K0S_VAGRANT_BIN")
    end

    # Runs the helper: stdout (the plan JSON) is read whole, stderr is passed on line by line as it
    # comes, since a lower count on `vagrant up` takes nodes out of the cluster first, for minutes.
    def self.run(*cmd)
      Open3.popen3(*cmd) do |stdin, stdout, stderr, wait|
        stdin.close
        passed_on = Thread.new do
          stderr.each_line.map { |line| $stderr.write(line); $stderr.flush; line }.join
        end
        out = stdout.read
        [out, passed_on.value, wait.value]
      end
    rescue SystemCallError => e
      abort("k0s-vagrant: cannot run #{cmd.first}: #{e.message}; build it with `cargo build --release --locked` or fix K0S_VAGRANT_BIN")
    end

    def self.parse(out)
      JSON.parse(out)
    rescue JSON::ParserError => e
      abort("k0s-vagrant: the helper printed no valid plan JSON (#{e.message.lines.first.to_s.strip}); rebuild it with `cargo build --release --locked`")
    end
  end
end
