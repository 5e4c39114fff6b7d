%% counter_sup.erl - 04_supervisor: the counter's supervisor.
%%
%%   erlc counter.erl counter_sup.erl && erl -noshell -eval 'counter_sup:demo(), halt().'
-module(counter_sup).
-behaviour(supervisor).
-export([start_link/1, init/1]).
-export([tree/0, kill_times/1, demo/0]).

start_link(Initial) ->
    supervisor:start_link({local, counter_sup}, counter_sup, Initial).

init(Initial) ->
    Flags = #{strategy => one_for_one, intensity => 10, period => 3600},
    Child = #{id => counter,
              start => {counter, start_link, [Initial]},
              restart => permanent,
              shutdown => 2000,
              type => worker},
    {ok, {Flags, [Child]}}.

%% Draws the tree, as the C program's counter_sup_draw does. Returns ok.
tree() ->
    Sup = whereis(counter_sup),
    [{counter, Kid, worker, _}] = supervisor:which_children(counter_sup),
    io:format("counter_sup ~p  one_for_one, 10 restarts in 3600 s~n"
              " |~n"
              " +-- counter ~p  worker, permanent, shutdown 2000 ms~n", [Sup, Kid]).

%% Kills the counter N times, each time waiting for counter_sup to start
%% the next one. Returns the new counters' pids.
kill_times(0) -> [];
kill_times(N) ->
    Old = whereis(counter),
    true = counter:kill(),
    New = await_restart(Old),
    [New | kill_times(N - 1)].

%% Waits until Old is gone and counter_sup runs another counter; returns
%% its pid. The supervisor restarts it when it handles the 'EXIT', which
%% may still be on its way: ask until it names a new pid (each ask is a
%% call, so this waits on the supervisor).
await_restart(Old) ->
    Ref = monitor(process, Old),
    receive {'DOWN', Ref, process, Old, _} -> ok end,
    await_new(Old).

await_new(Old) ->
    case supervisor:which_children(counter_sup) of
        [{counter, Pid, worker, _}] when is_pid(Pid), Pid =/= Old -> Pid;
        _ -> await_new(Old)
    end.

%% ---- The demo: the session 04_supervisor/counter prints (tour.txt) ---
%% It prints the same transcript as the C program, through tour.erl
%% (common/shell/): run it as the README says.

demo() ->
    tour:start(),
    process_flag(trap_exit, true),
    tour:say("counter_sup supervises the counter: one_for_one, at most 10"),
    tour:say("restarts in 3600 s; the child is permanent, shutdown 2000 ms."),
    tour:say("This session traps exits, as the shell does."),
    {ok, Sup} = start_link(0),
    tour:show("{ok, Sup} = counter_sup:start_link(0).", fun() -> {ok, Sup} end),
    tour:call("counter_sup:tree().", fun tree/0),
    tour:say("Crash the counter four ways. Each time the supervisor starts a"),
    tour:say("new one, with a new pid, at the initial value: the count is lost."),
    tour:say("1. kill: an exit signal nothing can trap."),
    crash_once("counter:kill().", true, fun counter:kill/0),
    tour:say("2. error: the counter calls exit(boom) in handle_cast. The"),
    tour:say("   behaviour catches it, calls terminate(boom, 5), prints OTP's"),
    tour:say("   \"Generic server terminating\" report, and exits with boom."),
    crash_once("counter:error().", ok, fun counter:error/0),
    tour:say("3. divzero: a cast whose handler divides by zero: SIGFPE,"),
    tour:say("   reason badarith."),
    crash_once("counter:divzero().", ok, fun counter:divzero/0),
    tour:say("4. nullptr: a cast whose handler reads address 0: SIGSEGV,"),
    tour:say("   reason {signal, segv}. Only the counter dies, terminate first;"),
    tour:say("   the program goes on."),
    crash_once("counter:nullptr().", ok, fun counter:nullptr/0),
    tour:call("counter_sup:tree().", fun tree/0),
    tour:say("Four restarts so far; six more are allowed within the hour."),
    tour:say("counter_sup:kill_times(6) kills the counter six times, each time"),
    tour:say("waiting for the next, and returns the new pids:"),
    tour:call("counter_sup:kill_times(6).", fun() -> kill_times(6) end),
    tour:say("The 11th crash within the hour is one too many: counter_sup"),
    tour:say("gives up (reached_max_restart_intensity) and exits with shutdown."),
    tour:before("counter:kill().", true, fun counter:kill/0),
    tour:show("receive {'EXIT', Sup, Why} -> Why end.",
              fun() -> receive {'EXIT', Sup, Why} -> Why end end),
    tour:show("counter:read().", fun counter:read/0),
    tour:say("Try it yourself: 04_supervisor/counter --shell").

%% One crash: tick to 5, crash the counter with Crash (shown as Expr, with
%% its result Value), wait for the new counter, show it and read it.
crash_once(Expr, Value, Crash) ->
    tour:show("counter:tick(5).", fun() -> counter:tick(5) end),
    tour:show("counter:read().", fun counter:read/0),
    Old = whereis(counter),
    tour:before(Expr, Value, Crash),
    await_restart(Old),
    tour:say("counter_sup has started a new counter:"),
    tour:show("whereis(counter).", fun() -> whereis(counter) end),
    tour:show("counter:read().", fun counter:read/0).
