%% bench_cluster.erl - the BEAM side of the cluster benchmarks: the Erlang
%% original of 06_cluster (gen_server_cluster.erl, counter.erl) on three
%% nodes a, b, c, and a client node d, the same shape as the C side
%% (06_cluster/tour.c, --bench-failover: three members and a client node).
%%
%%   run_dist BEAM_DIR bench_cluster cluster
%%   erl -sname benchctl@localhost -hidden -setcookie COOKIE \
%%       -pa BEAM_DIR/cluster -run bench_cluster main WORK_DIR COOKIE
%%
%% BEAM_DIR/cluster holds 06's gen_server_cluster, counter, cluster_ctl,
%% bench_nodes (the node helpers) and this module. The control node starts a, then b and c, each as
%% cluster_ctl:member/1 (a leads, b and c back it up), and d, which only
%% connects; all are ports, and each one's OS pid goes to WORK_DIR/N.pid
%% (run_dist kills what they name when anything fails). It prints one line
%% per metric, "beam <metric> <value>":
%%   cluster_call_rtt_us  median of ?CALLS counter:read() on d, i.e.
%%       gen_server:call({global, counter}, read) to the leader (after
%%       ?WARMUP): the original's call, which copies nothing for a read
%%   cluster_failover_ms, cluster_failover_ms_p99  median and p99 of
%%       ?ROUNDS rounds (after one): d kills the leader's node with kill -9,
%%       then polls every 1 ms until the global name counter names a
%%       process on another node and its read() answers; the dead node is
%%       then started again (it joins as a backup) before the next round
%% Exit status 0, or 70 after a line on stderr.
-module(bench_cluster).
-export([main/1]).
-export([rtt_client/1]).
-import(bench_nodes, [node_name/1, kill_node/1, wait_until/2]).

-define(CALLS, 1000).          % timed calls, as the C side's (tour.c)
-define(WARMUP, 1000).
-define(ROUNDS, 20).
-define(MEMBERS, [a, b, c]).

main([Dir, Cookie]) ->
    bench_nodes:run_main(bench_cluster, fun() -> run(Dir, Cookie) end).

run(Dir, Cookie) ->
    Ports0 = lists:foldl(fun(N, Ps) ->
                                 P = start_member(Dir, Cookie, N),
                                 await_members(node_name(N), maps:size(Ps)),
                                 Ps#{N => P}
                         end, #{}, ?MEMBERS),
    D = bench_nodes:start_node(Dir, Cookie, d, [], "net_adm:ping(a@localhost), global:sync()"),
    wait_until(fun() -> is_integer(rpc:call(node_name(d), counter, read, [])) end,
               "the counter answering on d"),
    report(cluster_call_rtt_us, bench_nodes:call_on(node_name(d), ?MODULE, rtt_client, []) / 1000),
    {_, Ports1} = one_round(Dir, Cookie, Ports0),             % warm-up
    {Times, Ports2} = rounds(Dir, Cookie, Ports1, ?ROUNDS, []),
    Sorted = lists:sort(Times),
    report(cluster_failover_ms, lists:nth(?ROUNDS div 2 + 1, Sorted) / 1000),
    report(cluster_failover_ms_p99, lists:nth(min(?ROUNDS, ?ROUNDS * 99 div 100 + 1), Sorted) / 1000),
    [kill_node(P) || P <- [D | maps:values(Ports2)]],
    ok.

report(Metric, Value) ->
    io:format("beam ~s ~.2f~n", [Metric, float(Value)]).

%% ---- The nodes -----------------------------------------------------------

start_member(Dir, Cookie, N) ->
    Others = [node_name(O) || O <- ?MEMBERS, O =/= N],
    bench_nodes:start_node(Dir, Cookie, N, [], io_lib:format("cluster_ctl:member(~p)", [Others])).

%% Until Node's member sees a leader and K backups.
await_members(Node, K) ->
    wait_until(fun() ->
                       case rpc:call(Node, gen_server_cluster, get_all_server_nodes, [counter]) of
                           {_, Bs} when is_list(Bs) -> length(Bs) =:= K;
                           _ -> false
                       end
               end, "the members up").

%% ---- cluster_call_rtt_us ---------------------------------------------------

%% On d: the median in ns of ?CALLS counter:read(), after ?WARMUP.
rtt_client(Parent) ->
    [counter:read() || _ <- lists:seq(1, ?WARMUP)],
    Times = lists:sort([begin
                            T0 = erlang:monotonic_time(nanosecond),
                            _ = counter:read(),
                            erlang:monotonic_time(nanosecond) - T0
                        end || _ <- lists:seq(1, ?CALLS)]),
    Parent ! {self(), lists:nth(?CALLS div 2 + 1, Times)}.

%% ---- cluster_failover_ms ----------------------------------------------------

rounds(_Dir, _Cookie, Ports, 0, Acc) -> {Acc, Ports};
rounds(Dir, Cookie, Ports, K, Acc) ->
    {T, Ports1} = one_round(Dir, Cookie, Ports),
    rounds(Dir, Cookie, Ports1, K - 1, [T | Acc]).

%% One round: d kills the leader's node and times the first read the new
%% leader answers; the dead node is started again and joins as a backup.
%% Returns {FailoverUs, Ports}.
one_round(Dir, Cookie, Ports) ->
    Leader = node(rpc:call(node_name(d), global, whereis_name, [counter])),
    [L] = [N || N <- ?MEMBERS, node_name(N) =:= Leader],
    {Keeper, OsPid} = maps:get(L, Ports),
    Ref = monitor(process, Keeper),
    unlink(Keeper),
    Us = bench_nodes:call_on(node_name(d), bench_nodes, failover_client, [Leader, OsPid]),
    receive {'DOWN', Ref, process, Keeper, _} -> ok end,
    [Other | _] = [node_name(N) || N <- ?MEMBERS, N =/= L],
    await_members(Other, 1),
    New = start_member(Dir, Cookie, L),
    await_members(node_name(L), 2),
    {Us, Ports#{L := New}}.
