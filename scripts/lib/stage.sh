# Sourced by the benchmark scripts: copies a bench's inputs (builds, events,
# GeoIP databases) into memory before it measures.
#
# On this project's VMs the kernel drops the page cache of files nobody read
# lately (DAMON's page-out scheme, see lib/damon.sh), whatever memory is
# free: a 4.6 GB event file was found half cached with 17 GB free, and the
# replays reading it waited on the disk for a quarter of their time, more
# or less from one run to the next; a 700 MB build's code and a GeoIP
# database fault in from disk the same way. tmpfs pages are not dropped
# (there is no swap), so every run reads its inputs from memory. STAGE=0
# reads them where they are.

staged_dir=

# stage NAME=PATH...: copies each file into one tmpfs folder and sets the
# variable NAME to its copy; when /dev/shm has no room for them all (and 1
# GiB to spare), says so and leaves every variable as it was. The folder
# goes at exit, with `unstage`.
stage() {
    [[ ${STAGE:-1} != 0 ]] || return 0
    local pair paths=() need room
    for pair in "$@"; do paths+=("${pair#*=}"); done
    need=$(stat -L -c %s "${paths[@]}" | awk '{s += $1} END {printf "%d", s / 1024 + 1024 * 1024}')
    room=$(df -k --output=avail /dev/shm | tail -1)
    if (( room <= need )); then
        echo "${0##*/}: WARNING: /dev/shm has $room KiB free, $need KiB needed; inputs read from disk" >&2
        return 0
    fi
    [[ -n $staged_dir ]] || staged_dir=$(mktemp -d /dev/shm/palisade-bench.XXXXXX)
    for pair in "$@"; do
        local name=${pair%%=*} path=${pair#*=}
        local copy="$staged_dir/$name-${path##*/}"
        cp "$path" "$copy"
        printf -v "$name" '%s' "$copy"
    done
    echo "${0##*/}: inputs copied to $staged_dir (tmpfs): ${paths[*]##*/}" >&2
}

unstage() {
    [[ -z $staged_dir ]] || rm -rf "$staged_dir"
    staged_dir=
}
