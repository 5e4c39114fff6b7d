%% bench.erl - the BEAM side of `make bench`: the workloads of bench.c.
%%
%%   erlc -o DIR bench.erl
%%   erl -noshell +S 2 +P 2000000 -pa DIR -s bench main
%%
%% Prints one line per metric, "beam <metric> <value>", which tests/bench/run
%% merges with bench.c's lines. Every measurement runs in a process of its
%% own, as in C. The module is both the counter's gen_server callback module
%% and the supervisor's (init/1 tells them apart by its argument).
-module(bench).
-behaviour(gen_server).
-export([main/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-define(CALLS, 200000).       % timed calls, after ?WARMUP untimed ones
-define(WARMUP, 20000).
-define(ROUNDS, 5).           % bursts of casts or spawns: the best counts
-define(CASTS, 1000000).      % ticks cast in one burst
-define(SPAWNS, 200000).      % empty processes spawned in one burst
-define(IDLE, 100000).        % idle counters whose memory is measured
-define(MAX_PROCS, 1000000).  % idle processes held at once
-define(RESTARTS, 5000).      % timed kills of the supervised counter ...
-define(INTENSITY, 10).       % ... in rounds of counter_sup's intensity
-define(UPGRADES, 100).       % timed upgrades of 07's counter under load
-define(UPGRADES_LOST, 1000). % upgrades across which no tick may be lost
-define(HOT_TICKERS, 2).      % processes loading the upgraded counter ...
-define(HOT_BATCH, 100).      % ... with this many casts, then a call

main() ->
    try
        run(),
        halt(0)
    catch
        Class:Reason:Stack ->
            io:format(standard_error, "bench: ~p:~p~n~p~n", [Class, Reason, Stack]),
            halt(70)
    end.

run() ->
    %% Supervisor reports would time the logger, not the restart.
    ok = logger:set_primary_config(level, none),
    report(idle_bytes, in_process(fun idle_memory/0)),
    report(idle_hibernated_bytes, in_process(fun idle_hibernated_memory/0)),
    {Med, P99} = in_process(fun call_rtt/0),
    report(call_rtt_ns, Med),
    report(call_rtt_p99_ns, P99),
    report(cast_per_s, in_process(fun cast_rate/0)),
    {GMed, GP99} = in_process(fun gen_call_rtt/0),
    report(gen_call_rtt_ns, GMed),
    report(gen_call_rtt_p99_ns, GP99),
    report(restart_ns, in_process(fun restart/0)),
    report(spawn_per_s, in_process(fun spawn_rate/0)),
    report(max_procs, in_process(fun max_procs/0)),
    report(upgrade_pause_us, in_process(fun upgrade_pause/0)),
    report(upgrade_lost, in_process(fun upgrade_lost/0)).

report(Metric, Value) ->
    io:format("beam ~s ~w~n", [Metric, round(Value)]).

%% Runs F in a process of its own and returns its result.
in_process(F) ->
    Parent = self(),
    {Pid, Ref} = spawn_monitor(fun() -> Parent ! {self(), F()} end),
    receive
        {Pid, Result} ->
            erlang:demonitor(Ref, [flush]),
            Result;
        {'DOWN', Ref, process, Pid, Reason} ->
            exit({bench_failed, Reason})
    end.

now_ns() -> erlang:monotonic_time(nanosecond).

%% ---- The counter: 02's rpc, and 03's gen_server --------------------------

%% 02_rpc's loop, reduced to what is timed: {read, From} is answered with
%% rpc_reply(From, N); {stop, From} answers ok and ends it.
rpc_counter(N) ->
    receive
        {read, From} -> rpc_reply(From, N), rpc_counter(N);
        {stop, From} -> rpc_reply(From, ok)
    end.

%% 02_rpc's rpc:call/2: {Msg, {self(), Ref}}, then only {Ref, Reply}.
rpc_call(Server, Msg) ->
    Ref = make_ref(),
    Server ! {Msg, {self(), Ref}},
    receive {Ref, Reply} -> Reply end.

rpc_reply({Pid, Ref}, Reply) -> Pid ! {Ref, Reply}.

init(sup) ->
    Flags = #{strategy => one_for_one, intensity => ?INTENSITY, period => 3600},
    Child = #{id => counter,
              start => {gen_server, start_link, [{local, counter}, ?MODULE, 0, []]},
              restart => permanent, shutdown => 2000, type => worker},
    {ok, {Flags, [Child]}};
init(N) when is_integer(N) ->
    {ok, N}.

handle_call(read, _From, N) -> {reply, N, N}.

handle_cast({tick, K}, N) -> {noreply, N + K};
handle_cast(stop, N) -> {stop, normal, N}.

handle_info(_Info, N) -> {noreply, N}.

%% ---- Timing helpers ------------------------------------------------------

%% Times K calls of F, one by one; returns {median, p99} in ns.
time_each(F, K) ->
    Times = lists:sort(time_each(F, K, [])),
    {percentile(Times, K, 50), percentile(Times, K, 99)}.

time_each(_F, 0, Acc) -> Acc;
time_each(F, K, Acc) ->
    T0 = now_ns(),
    F(),
    T1 = now_ns(),
    time_each(F, K - 1, [T1 - T0 | Acc]).

percentile(Sorted, K, P) -> lists:nth(min(K, K * P div 100 + 1), Sorted).

repeat(_F, 0) -> ok;
repeat(F, K) -> F(), repeat(F, K - 1).

%% Waits until at most Base processes are alive.
wait_count(Base) ->
    case erlang:system_info(process_count) =< Base of
        true -> ok;
        false -> erlang:yield(), wait_count(Base)
    end.

%% ---- The workloads -------------------------------------------------------

%% call_rtt_ns: rpc_call(Pid, read): {read, {self(), Ref}}, reply {Ref, N}.
call_rtt() ->
    Pid = spawn(fun() -> rpc_counter(0) end),
    Read = fun() -> 0 = rpc_call(Pid, read) end,
    repeat(Read, ?WARMUP),
    Result = time_each(Read, ?CALLS),
    ok = rpc_call(Pid, stop),
    Result.

%% cast_per_s: ?CASTS gen_server:cast(counter, {tick, 1}), as 03's tick(1),
%% then one call proves the count; the best of ?ROUNDS bursts, after one.
cast_rate() ->
    {ok, Pid} = gen_server:start({local, counter}, ?MODULE, 0, []),
    cast_burst(),
    Rate = lists:max([cast_burst() || _ <- lists:seq(1, ?ROUNDS)]),
    gen_server:stop(Pid),
    Rate.

cast_burst() ->
    Before = gen_server:call(counter, read, infinity),
    T0 = now_ns(),
    repeat(fun() -> gen_server:cast(counter, {tick, 1}) end, ?CASTS),
    After = gen_server:call(counter, read, infinity),
    T1 = now_ns(),
    After - Before =:= ?CASTS orelse exit({ticks_lost, After - Before, ?CASTS}),
    ?CASTS * 1.0e9 / (T1 - T0).

%% gen_call_rtt_ns: gen_server:call(counter, read), by name as 03's read().
gen_call_rtt() ->
    {ok, Pid} = gen_server:start({local, counter}, ?MODULE, 0, []),
    Read = fun() -> 0 = gen_server:call(counter, read) end,
    repeat(Read, ?WARMUP),
    Result = time_each(Read, ?CALLS),
    gen_server:stop(Pid),
    Result.

%% restart_ns: kill the counter under a supervisor configured as 04's
%% counter_sup, then poll whereis(counter), yielding, until it names a new
%% pid. Each supervisor takes ?INTENSITY kills (one more and it would give up,
%% and a larger intensity would time its restart list, not the restart); the
%% median of ?RESTARTS, after a tenth as many.
restart() ->
    Rounds = ?RESTARTS div ?INTENSITY,
    [restart_round() || _ <- lists:seq(1, Rounds div 10)],
    Times = lists:append([restart_round() || _ <- lists:seq(1, Rounds)]),
    percentile(lists:sort(Times), length(Times), 50).

restart_round() ->
    {ok, Sup} = supervisor:start_link(?MODULE, sup),
    Times = [time_kill() || _ <- lists:seq(1, ?INTENSITY)],
    ok = gen_server:stop(Sup),
    Times.

time_kill() ->
    Old = whereis(counter),
    T0 = now_ns(),
    exit(Old, kill),
    wait_new(Old),
    now_ns() - T0.

wait_new(Old) ->
    case whereis(counter) of
        New when is_pid(New), New =/= Old -> ok;
        _ -> erlang:yield(), wait_new(Old)
    end.

%% idle_bytes: erlang:memory(processes) grown by ?IDLE idle gen_server
%% counters, per counter. Their pids wait in an ETS table, outside that count.
idle_memory() -> idle_memory([], false).

%% idle_hibernated_bytes: the same with {hibernate_after, 0}: each counter
%% hibernates (erlang:hibernate/3) as soon as init is done; measured once
%% every one has, as bench.c does.
idle_hibernated_memory() -> idle_memory([{hibernate_after, 0}], true).

idle_memory(Opts, Hibernating) ->
    Base = erlang:system_info(process_count),
    Pids = ets:new(idle, [set, private]),
    erlang:garbage_collect(),
    M0 = erlang:memory(processes),
    start_idle(Pids, ?IDLE, Opts),
    Hibernating andalso wait_hibernated(Pids),
    erlang:garbage_collect(),
    M1 = erlang:memory(processes),
    ets:foldl(fun({_, P}, _) -> exit(P, kill) end, ok, Pids),
    ets:delete(Pids),
    wait_count(Base),
    (M1 - M0) / ?IDLE.

%% Waits until every process in Pids is in erlang:hibernate/3.
wait_hibernated(Pids) ->
    Hibernated = fun({_, P}, N) ->
                     case process_info(P, current_function) of
                         {current_function, {erlang, hibernate, 3}} -> N + 1;
                         _ -> N
                     end
                 end,
    case ets:foldl(Hibernated, 0, Pids) of
        ?IDLE -> true;
        _ -> erlang:yield(), wait_hibernated(Pids)
    end.

start_idle(_Pids, 0, _Opts) -> ok;
start_idle(Pids, K, Opts) ->
    {ok, P} = gen_server:start(?MODULE, 0, Opts),
    ets:insert(Pids, {K, P}),
    start_idle(Pids, K - 1, Opts).

%% spawn_per_s: ?SPAWNS spawn(fun() -> ok end), until all have exited; the
%% best of ?ROUNDS bursts, after one.
spawn_rate() ->
    Base = erlang:system_info(process_count),
    spawn_burst(Base),
    lists:max([spawn_burst(Base) || _ <- lists:seq(1, ?ROUNDS)]).

spawn_burst(Base) ->
    T0 = now_ns(),
    spawn_n(?SPAWNS),
    wait_count(Base),
    ?SPAWNS * 1.0e9 / (now_ns() - T0).

spawn_n(0) -> ok;
spawn_n(K) -> spawn(fun() -> ok end), spawn_n(K - 1).

%% max_procs: up to ?MAX_PROCS processes blocked in receive, then a count of
%% those alive while all of them should be. Stops at the first spawn that
%% fails (system_limit: +P too small).
max_procs() ->
    Base = erlang:system_info(process_count),
    Pids = spawn_idle(?MAX_PROCS, []),
    Alive = length([P || P <- Pids, is_process_alive(P)]),
    [P ! stop || P <- Pids],
    wait_count(Base),
    Alive.

spawn_idle(0, Pids) -> Pids;
spawn_idle(K, Pids) ->
    try spawn(fun idle/0) of
        P -> spawn_idle(K - 1, [P | Pids])
    catch
        error:system_limit -> Pids
    end.

idle() ->
    receive stop -> ok end.

%% ---- 07_hot_code's counter, upgraded under load ---------------------------

%% Version 1 and 2 of 07's counter module, compiled by the Makefile into
%% hot/v1/counter.beam and hot/v2/counter.beam beside this module, as
%% {V1, V2}.
hot_beams() ->
    Dir = filename:join(filename:dirname(code:which(?MODULE)), "hot"),
    {ok, V1} = file:read_file(filename:join([Dir, "v1", "counter.beam"])),
    {ok, V2} = file:read_file(filename:join([Dir, "v2", "counter.beam"])),
    {V1, V2}.

%% A ticker: ?HOT_BATCH tick casts, then a read call (which bounds the
%% server's mailbox), until {stop, From}; then From ! {ticked, Self, Sent}.
hot_ticker(Server, Sent) ->
    receive
        {stop, From} -> From ! {ticked, self(), Sent}
    after 0 ->
        [gen_server:cast(Server, {tick, 1}) || _ <- lists:seq(1, ?HOT_BATCH)],
        _ = gen_server:call(Server, read, infinity),
        hot_ticker(Server, Sent + ?HOT_BATCH)
    end.

%% The prober: read calls back to back; {gap, From} answers the longest time
%% between two replies since the last {gap, _}, after the read under way.
hot_prober(Server, Last, Longest) ->
    _ = gen_server:call(Server, read, infinity),
    T = now_ns(),
    L = max(Longest, T - Last),
    receive
        {gap, From} -> From ! {gap, self(), L}, hot_prober(Server, T, 0);
        stop -> ok
    after 0 -> hot_prober(Server, T, L)
    end.

prober_gap(P) ->
    P ! {gap, self()},
    receive {gap, P, Ns} -> Ns end.

%% Moves the server to version Vsn as a release handler does: upgrade (to 2)
%% suspend, purge, load, change_code(1), resume; downgrade (to 1) suspend,
%% change_code({down, 1}) in version 2, purge, load, resume. (Suspended
%% first: a gen_server calls its callbacks fully qualified, so a version
%% loaded while it runs would serve its next message with the old state.)
hot_switch(Server, 2, {_, V2}) ->
    ok = sys:suspend(Server),
    hot_load(V2),
    ok = sys:change_code(Server, counter, 1, []),
    ok = sys:resume(Server);
hot_switch(Server, 1, {V1, _}) ->
    ok = sys:suspend(Server),
    ok = sys:change_code(Server, counter, {down, 1}, []),
    hot_load(V1),
    ok = sys:resume(Server).

hot_load(Beam) ->
    true = code:soft_purge(counter),
    {module, counter} = code:load_binary(counter, "counter.beam", Beam).

%% Version 1 loaded, its server started, ?HOT_TICKERS tickers on it.
hot_start(Bins) ->
    hot_load(element(1, Bins)),
    {ok, Server} = gen_server:start(counter, 0, []),
    {Server, [spawn(fun() -> hot_ticker(Server, 0) end) || _ <- lists:seq(1, ?HOT_TICKERS)]}.

%% Stops the tickers and the server, unloads the code; returns the ticks
%% lost: sent minus counted.
hot_stop(Server, Tickers) ->
    Sent = lists:sum([begin T ! {stop, self()}, receive {ticked, T, N} -> N end end
                      || T <- Tickers]),
    Counted = gen_server:call(Server, read, infinity),
    ok = gen_server:stop(Server),
    code:purge(counter), code:delete(counter), code:purge(counter),
    Sent - Counted.

%% upgrade_pause_us: median of the longest gap between two served reads
%% around each of ?UPGRADES upgrades (1 to 2, 2 to 1, ...) under load.
upgrade_pause() ->
    Bins = hot_beams(),
    {Server, Tickers} = hot_start(Bins),
    Prober = spawn(fun() -> hot_prober(Server, now_ns(), 0) end),
    Gaps = [begin
                prober_gap(Prober),
                hot_switch(Server, 2 - I rem 2, Bins),
                prober_gap(Prober) div 1000
            end || I <- lists:seq(0, ?UPGRADES - 1)],
    Ref = erlang:monitor(process, Prober),
    Prober ! stop,
    receive {'DOWN', Ref, process, Prober, _} -> ok end,
    hot_stop(Server, Tickers),
    percentile(lists:sort(Gaps), ?UPGRADES, 50).

%% upgrade_lost: ticks lost across ?UPGRADES_LOST upgrades under load.
upgrade_lost() ->
    Bins = hot_beams(),
    {Server, Tickers} = hot_start(Bins),
    [hot_switch(Server, 2 - I rem 2, Bins) || I <- lists:seq(0, ?UPGRADES_LOST - 1)],
    hot_stop(Server, Tickers).
