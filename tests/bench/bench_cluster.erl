%% bench_cluster.erl - the BEAM side of the cluster benchmarks: the Erlang
%% original of 06_cluster (gen_server_cluster.erl, counter.erl) on three
%% nodes a, b, c, and a client node d, the same shape as the C side
%% (06_cluster/tour.c, --bench-failover: three members and a client node).
%%
%%   run_dist BEAM_DIR bench_cluster cluster
%%   erl -sname benchctl@localhost -hidden -setcookie COOKIE \
%%       -pa BEAM_DIR/cluster -run bench_cluster main WORK_DIR COOKIE
%%
%% BEAM_DIR/cluster holds 06's gen_server_cluster, counter, cluster_ctl and
%% this module. The control node starts a, then b and c, each as
%% cluster_ctl:member/1 (a leads, b and c back it up), and d, which only
%% connects; all are ports, and each one's OS pid goes to WORK_DIR/N.pid
%% (run_dist kills what they name when anything fails). It prints one line
%% per metric, "beam <metric> <value>":
%%   cluster_call_rtt_us  median of ?CALLS counter:read() on d, i.e.
%%       gen_server:call({global, counter}, read) to the leader (after
%%       ?WARMUP): the original's call, which copies nothing for a read
%%   cluster_failover_ms, cluster_failover_ms_p99  median and p99 of
%%       ?ROUNDS rounds (after one): d kills the leader's node with kill -9,
%%       then polls every ?POLL_MS until the global name counter names a
%%       process on another node and its read() answers; the dead node is
%%       then started again (it joins as a backup) before the next round
%% Exit status 0, or 70 after a line on stderr.
-module(bench_cluster).
-export([main/1]).
-export([rtt_client/1, failover_client/3]).

-define(CALLS, 1000).          % timed calls, as the C side's (tour.c)
-define(WARMUP, 1000).
-define(ROUNDS, 20).
-define(DEADLINE_MS, 60000).   % for any node or member to come up
-define(POLL_MS, 1).
-define(TOTAL_MS, 600000).
-define(MEMBERS, [a, b, c]).

main([Dir, Cookie]) ->
    {Pid, Ref} = spawn_monitor(fun() -> run(Dir, Cookie) end),
    receive
        {'DOWN', Ref, process, Pid, normal} ->
            halt(0);
        {'DOWN', Ref, process, Pid, Reason} ->
            io:format(standard_error, "bench_cluster: failed: ~p~n", [Reason]),
            halt(70)
    after ?TOTAL_MS ->
        io:format(standard_error, "bench_cluster: not done within ~w ms~n", [?TOTAL_MS]),
        halt(70)
    end.

node_name(N) -> list_to_atom(atom_to_list(N) ++ "@localhost").

run(Dir, Cookie) ->
    Ports0 = lists:foldl(fun(N, Ps) ->
                                 P = start_member(Dir, Cookie, N),
                                 await_members(node_name(N), maps:size(Ps)),
                                 Ps#{N => P}
                         end, #{}, ?MEMBERS),
    D = start_node(Dir, Cookie, d, "net_adm:ping(a@localhost), global:sync()"),
    wait_until(fun() -> is_integer(rpc:call(node_name(d), counter, read, [])) end,
               "the counter answering on d"),
    report(cluster_call_rtt_us, call_on(node_name(d), rtt_client, []) / 1000),
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
    start_node(Dir, Cookie, N, io_lib:format("cluster_ctl:member(~p)", [Others])).

%% Until Node's member sees a leader and K backups.
await_members(Node, K) ->
    wait_until(fun() ->
                       case rpc:call(Node, gen_server_cluster, get_all_server_nodes, [counter]) of
                           {_, Bs} when is_list(Bs) -> length(Bs) =:= K;
                           _ -> false
                       end
               end, "the members up").

%% Node N running Eval, a port of a keeper process that appends its output
%% to Dir/N.log; its OS pid goes to Dir/N.pid. Returns {Keeper, OsPid}.
start_node(Dir, Cookie, N, Eval) ->
    Erl = os:find_executable("erl"),
    CodeDir = filename:dirname(code:which(?MODULE)),
    Args = ["-sname", atom_to_list(node_name(N)), "-setcookie", Cookie, "-pa", CodeDir,
            "-noshell", "-noinput", "+Bd", "+S", "2", "-start_epmd", "false",
            "-kernel", "inet_dist_use_interface", "{127,0,0,1}", "-eval", lists:flatten(Eval)],
    Parent = self(),
    Keeper = spawn_link(fun() ->
        Port = open_port({spawn_executable, Erl},
                         [{args, Args}, exit_status, stderr_to_stdout, binary]),
        {os_pid, Pid} = erlang:port_info(Port, os_pid),
        ok = file:write_file(filename:join(Dir, atom_to_list(N) ++ ".pid"),
                             integer_to_list(Pid)),
        Parent ! {self(), os_pid, Pid},
        {ok, Log} = file:open(filename:join(Dir, atom_to_list(N) ++ ".log"), [append]),
        keep(Port, Log)
    end),
    receive
        {Keeper, os_pid, OsPid} -> {Keeper, OsPid}
    after ?DEADLINE_MS -> exit({not_started, N})
    end.

keep(Port, Log) ->
    receive
        {Port, {data, Data}} -> ok = file:write(Log, Data), keep(Port, Log);
        {Port, {exit_status, _}} -> file:close(Log)
    end.

kill_node({Keeper, OsPid}) ->
    Ref = monitor(process, Keeper),
    unlink(Keeper),
    _ = os:cmd("kill -9 " ++ integer_to_list(OsPid)),
    receive {'DOWN', Ref, process, Keeper, _} -> ok end.

call_on(Node, F, Args) ->
    Pid = spawn_link(Node, ?MODULE, F, Args ++ [self()]),
    receive {Pid, Result} -> Result end.

wait_until(Done, What) ->
    wait_until(Done, What, erlang:monotonic_time(millisecond) + ?DEADLINE_MS).

wait_until(Done, What, Deadline) ->
    case Done() of
        true -> ok;
        false ->
            erlang:monotonic_time(millisecond) < Deadline orelse
                exit({not_within, ?DEADLINE_MS, What}),
            timer:sleep(?POLL_MS),
            wait_until(Done, What, Deadline)
    end.

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
    Us = call_on(node_name(d), failover_client, [Leader, OsPid]),
    receive {'DOWN', Ref, process, Keeper, _} -> ok end,
    [Other | _] = [node_name(N) || N <- ?MEMBERS, N =/= L],
    await_members(Other, 1),
    New = start_member(Dir, Cookie, L),
    await_members(node_name(L), 2),
    {Us, Ports#{L := New}}.

%% On d: kill -9 of the leader's node (OS pid OsPid) from a shell already
%% running, then polls until another node's member holds the name and
%% answers read(); sends the us from just before the kill.
failover_client(Home, OsPid, Parent) ->
    Sh = open_port({spawn_executable, "/bin/sh"}, [{args, ["-s"]}, exit_status, binary]),
    T0 = erlang:monotonic_time(microsecond),
    port_command(Sh, ["kill -9 ", integer_to_list(OsPid), "; exit\n"]),
    await_elsewhere(Home),
    T1 = erlang:monotonic_time(microsecond),
    receive {Sh, {exit_status, 0}} -> ok end,
    Parent ! {self(), T1 - T0}.

await_elsewhere(Home) ->
    case global:whereis_name(counter) of
        Pid when is_pid(Pid), node(Pid) =/= Home ->
            try gen_server:call(Pid, read) of
                N when is_integer(N) -> ok
            catch
                exit:_ -> timer:sleep(?POLL_MS), await_elsewhere(Home)
            end;
        _ ->
            timer:sleep(?POLL_MS),
            await_elsewhere(Home)
    end.
