%% bench_dist.erl - the BEAM side of the distribution benchmarks: three
%% nodes running 05_application's counter as a distributed application.
%%
%%   run_dist BEAM_DIR      (starts epmd, runs this on a hidden control node,
%%                           tears everything down; see run_dist)
%%   erl -sname benchctl@localhost -hidden -setcookie COOKIE \
%%       -pa BEAM_DIR/dist -run bench_dist main WORK_DIR COOKIE
%%
%% BEAM_DIR/dist holds 05's counter, counter_sup, counter_app, counter.app,
%% bench_nodes (the node helpers) and this module. The control node starts a, b, c (erl -sname N@localhost,
%% each with WORK_DIR/N.config: 05's distributed entry with a failover
%% timeout of ?TIMEOUT_MS) as ports, writes each one's OS pid to
%% WORK_DIR/N.pid (run_dist kills what they name when anything fails), and
%% prints one line per metric, "beam <metric> <value>":
%%   remote_call_rtt_us, remote_call_rtt_p99_us  counter:read() on c, i.e.
%%       gen_server:call({global, counter}, read) to the counter on a
%%   failover_extra_ms  kill -9 of a -> first successful read on c of the
%%       counter restarted on b, minus the failover timeout
%%   takeover_ms        a started again -> its counter answers c's read
%% Exit status 0, or 70 after a line on stderr.
-module(bench_dist).
-export([main/1]).
-export([rtt_client/2, read_on/1]).
-import(bench_nodes, [node_name/1, kill_node/1, wait_until/2]).

-define(TIMEOUT_MS, 0).        % the failover timeout in the configs
-define(CALLS, 20000).         % timed remote calls, after ?WARMUP untimed
-define(WARMUP, 2000).
-define(ROUNDS, 10).           % timed failovers (and takeovers), after one
-define(NODES, [a, b, c]).

%% Runs the benchmarks (bench_nodes:run_main: in a process of their own,
%% so that any failure ends them, then halts).
main([Dir, Cookie]) ->
    bench_nodes:run_main(bench_dist, fun() -> run(Dir, Cookie) end).

run(Dir, Cookie) ->
    [write_config(Dir, N) || N <- ?NODES],
    Ports = maps:from_list([{N, start_node(Dir, Cookie, N)} || N <- ?NODES]),
    [A, _B, C] = [node_name(N) || N <- ?NODES],
    wait_until(fun() -> lists:all(fun(N) -> is_integer(rpc:call(node_name(N), counter, read, []))
                                  end, ?NODES) end, "the counter on every node"),
    {Med, P99} = bench_nodes:call_on(C, ?MODULE, rtt_client, [A]),
    report(remote_call_rtt_us, Med / 1000),
    report(remote_call_rtt_p99_us, P99 / 1000),
    {_, Ports1} = one_round(Dir, Cookie, Ports),             % warm-up
    {Times, Ports2} = rounds(Dir, Cookie, Ports1, ?ROUNDS, []),
    report(failover_extra_ms, median([F || {F, _} <- Times])),
    report(takeover_ms, median([T || {_, T} <- Times])),
    [kill_node(P) || P <- maps:values(Ports2)],
    ok.

report(Metric, Value) ->
    io:format("beam ~s ~.2f~n", [Metric, float(Value)]).

median(Xs) -> lists:nth(length(Xs) div 2 + 1, lists:sort(Xs)).

%% ---- The nodes -----------------------------------------------------------

%% 05's a.config (b, c), with the failover timeout of this benchmark.
write_config(Dir, N) ->
    Others = [node_name(O) || O <- ?NODES, O =/= N],
    Config = [{kernel, [{distributed, [{counter, ?TIMEOUT_MS,
                                        [node_name(a), {node_name(b), node_name(c)}]}]},
                        {sync_nodes_mandatory, Others},
                        {sync_nodes_timeout, 30000}]}],
    ok = file:write_file(filename:join(Dir, atom_to_list(N) ++ ".config"),
                         io_lib:format("~p.~n", [Config])).

%% Node N running 05's application with its config (write_config).
start_node(Dir, Cookie, N) ->
    bench_nodes:start_node(Dir, Cookie, N, ["-config", filename:join(Dir, atom_to_list(N))],
                           "ok = application:start(counter)").

%% ---- remote_call_rtt_us ---------------------------------------------------

%% On c: ?CALLS timed counter:read() calls (the counter runs on Home), after
%% ?WARMUP untimed; sends {median, p99} in ns to Parent.
rtt_client(Home, Parent) ->
    Home = node(global:whereis_name(counter)),
    [counter:read() || _ <- lists:seq(1, ?WARMUP)],
    Times = lists:sort(time_calls(?CALLS, [])),
    Parent ! {self(), {lists:nth(?CALLS div 2 + 1, Times),
                       lists:nth(?CALLS * 99 div 100 + 1, Times)}}.

time_calls(0, Acc) -> Acc;
time_calls(K, Acc) ->
    T0 = erlang:monotonic_time(nanosecond),
    _ = counter:read(),
    time_calls(K - 1, [erlang:monotonic_time(nanosecond) - T0 | Acc]).

%% ---- failover_extra_ms and takeover_ms ------------------------------------

rounds(_Dir, _Cookie, Ports, 0, Acc) -> {Acc, Ports};
rounds(Dir, Cookie, Ports, K, Acc) ->
    {T, Ports1} = one_round(Dir, Cookie, Ports),
    rounds(Dir, Cookie, Ports1, K - 1, [T | Acc]).

%% One failover and one takeover: the counter runs on a; c kills a and
%% times the failover; a is started again and the control node times the
%% takeover, then waits until b no longer runs the application. Returns
%% {{FailoverExtraMs, TakeoverMs}, Ports}.
one_round(Dir, Cookie, Ports) ->
    [A, B, C] = [node_name(N) || N <- ?NODES],
    {Keeper, OsPid} = maps:get(a, Ports),
    Ref = monitor(process, Keeper),
    unlink(Keeper),
    A = node(rpc:call(C, global, whereis_name, [counter])),    % the counter is on a
    FailoverUs = bench_nodes:call_on(C, bench_nodes, failover_client, [A, OsPid]),
    receive {'DOWN', Ref, process, Keeper, _} -> ok end,
    T0 = erlang:monotonic_time(microsecond),
    NewA = start_node(Dir, Cookie, a),
    wait_until(fun() -> rpc:call(C, ?MODULE, read_on, [A]) =:= true end, "takeover by a"),
    TakeoverUs = erlang:monotonic_time(microsecond) - T0,
    wait_until(fun() -> not lists:keymember(counter, 1,
                                            rpc:call(B, application, which_applications, []))
               end, "b's counter stopped"),
    {{FailoverUs / 1000 - ?TIMEOUT_MS, TakeoverUs / 1000}, Ports#{a := NewA}}.

%% On c: true when the global counter runs on Node and answers.
read_on(Node) ->
    case global:whereis_name(counter) of
        Pid when is_pid(Pid), node(Pid) =:= Node ->
            try is_integer(counter:read()) catch exit:_ -> false end;
        _ -> false
    end.
