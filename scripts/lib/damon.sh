# Sourced by the benchmark scripts: switches the kernel's DAMON monitors off
# for a measurement and back on after it.
#
# Kernel work on its own schedule takes a core from under whatever runs there.
# On this project's VMs, DAMON (the kernel's memory-access monitor, thread
# kdamond, sampling physical memory every 500 ms for a page-out scheme) runs
# 4 ms every half second and 20-25 ms at times. A perf sched_switch trace of a
# paced load run put it on the server's core, where each request arriving
# then waits for it and for the queue it leaves; paced at 12,000/s with it on
# p99 was 14-106 ms, with it off 2.0-2.2 ms (BENCHMARKS.md, "Load"). Both
# builds of a comparison meet the same quiet machine; KEEP_DAMON=1 leaves it
# running.

damon_paused=()

# Switches every running DAMON monitor off, saying so; `resume_damon` (also
# set to run at exit) switches them back on.
pause_damon() {
    [[ -z ${KEEP_DAMON:-} ]] || return 0
    local state
    for state in /sys/kernel/mm/damon/admin/kdamonds/*/state; do
        [[ -f $state && $(cat "$state") == on ]] || continue
        if echo off >"$state" 2>/dev/null; then
            damon_paused+=("$state")
            echo "${0##*/}: DAMON (${state%/state}) off for the bench; KEEP_DAMON=1 leaves it on" >&2
        fi
    done
    trap resume_damon EXIT
}

resume_damon() {
    local state
    for state in "${damon_paused[@]}"; do
        echo on >"$state" 2>/dev/null ||
            echo "${0##*/}: could not switch DAMON back on: echo on >$state" >&2
    done
    damon_paused=()
}
