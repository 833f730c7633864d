"""mpt-bench as a package: namespaces and links (topology, emulator), the tunnel (tunnel),
traffic generators and samplers (traffic), scenarios (aggregate, failover, compare,
accuracy), output (report, plot) and the command line (cli). bench/mpt-bench is the entry
point; run it as root."""
