# tests/support/ports.sh - free loopback ports for the servers the test
# scripts start (kafka.sh, pgserver.sh, connect.sh, registry.sh).  Sourced;
# the sourcing script defines die().

# port_busy PORT - true when something listens on 127.0.0.1:PORT.
port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# pick_ports N - N distinct free loopback ports, one a line, below the
# kernel's range of ephemeral ports (which outgoing connections take
# without asking), so that a port found free stays free until the server
# binds it.
pick_ports() {
    local want=$1 got=() p i lo=32768 span
    read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
    span=$((lo - 10000))
    [ "$span" -ge 2000 ] || { lo=60000; span=40000; } # ephemeral range starts low: take any
    for i in $(seq 1 500); do
        [ ${#got[@]} -ge "$want" ] && break
        p=$((lo - span + (RANDOM * 32768 + RANDOM) % span))
        port_busy "$p" && continue
        [[ " ${got[*]-} " == *" $p "* ]] && continue
        got+=("$p")
    done
    [ ${#got[@]} -ge "$want" ] || die "no free ports found"
    printf '%s\n' "${got[@]}"
}

# pick_port - one free loopback port.
pick_port() {
    pick_ports 1
}
