%% bench_nodes.erl - what the BEAM benchmarks on several nodes share
%% (bench_dist.erl, bench_cluster.erl): nodes started as ports of a keeper
%% process, killed with kill -9, a function run on another node, a wait
%% with a deadline, and the failover client that kills the counter's node
%% and times the first read another node's counter answers. The Makefile
%% compiles it into both benchmarks' folders, so it is on every node's
%% code path.
-module(bench_nodes).
-export([run_main/2, node_name/1, start_node/5, kill_node/1, call_on/4, wait_until/2,
         failover_client/3]).

-define(DEADLINE_MS, 60000).   % for any node or counter to come up
-define(POLL_MS, 1).           % between two looks
-define(TOTAL_MS, 600000).     % for a whole benchmark run

%% Runs Run() in a process of its own, so that any failure (a crash there,
%% the exit of a linked process on a node) ends it, and halts: 0 when it
%% returned, 70 after a line naming Name and what went wrong.
run_main(Name, Run) ->
    {Pid, Ref} = spawn_monitor(Run),
    receive
        {'DOWN', Ref, process, Pid, normal} ->
            halt(0);
        {'DOWN', Ref, process, Pid, Reason} ->
            io:format(standard_error, "~s: failed: ~p~n", [Name, Reason]),
            halt(70)
    after ?TOTAL_MS ->
        io:format(standard_error, "~s: not done within ~w ms~n", [Name, ?TOTAL_MS]),
        halt(70)
    end.

node_name(N) -> list_to_atom(atom_to_list(N) ++ "@localhost").

%% Starts node N (erl -sname N@localhost, Args added, running Eval) as a
%% port of a keeper process, which appends the node's output to Dir/N.log;
%% writes its OS pid to Dir/N.pid. Returns {Keeper, OsPid}.
start_node(Dir, Cookie, N, Args, Eval) ->
    Erl = os:find_executable("erl"),
    CodeDir = filename:dirname(code:which(?MODULE)),
    All = ["-sname", atom_to_list(node_name(N)), "-setcookie", Cookie | Args] ++
          ["-pa", CodeDir, "-noshell", "-noinput", "+Bd", "+S", "2", "-start_epmd", "false",
           "-kernel", "inet_dist_use_interface", "{127,0,0,1}", "-eval", lists:flatten(Eval)],
    Parent = self(),
    Keeper = spawn_link(fun() ->
        Port = open_port({spawn_executable, Erl},
                         [{args, All}, exit_status, stderr_to_stdout, binary]),
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

%% Drains the node's output into its log until the node exits.
keep(Port, Log) ->
    receive
        {Port, {data, Data}} -> ok = file:write(Log, Data), keep(Port, Log);
        {Port, {exit_status, _}} -> file:close(Log)
    end.

%% Kills a node with kill -9 and waits for its keeper to see it exit.
kill_node({Keeper, OsPid}) ->
    Ref = monitor(process, Keeper),
    unlink(Keeper),
    _ = os:cmd("kill -9 " ++ integer_to_list(OsPid)),
    receive {'DOWN', Ref, process, Keeper, _} -> ok end.

%% Spawns M:F(Args ++ [self()]) on Node, linked (its failure ends the
%% benchmark), and returns the Result of the {Pid, Result} it sends back.
call_on(Node, M, F, Args) ->
    Pid = spawn_link(Node, M, F, Args ++ [self()]),
    receive {Pid, Result} -> Result end.

%% Polls Done() every ?POLL_MS until it is true; exits after ?DEADLINE_MS.
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

%% On a client node: kills Home (the node whose counter holds the global
%% name, OS pid OsPid) with kill -9 from a shell already running (a builtin
%% kill, no fork in the timed part), then polls every ?POLL_MS until the
%% global name counter names a process on another node and its read()
%% answers (within ?DEADLINE_MS). Sends the us from just before the kill
%% to that answer.
%% (Polling with erlang:yield() instead keeps one of the node's schedulers
%% busy, and on 2 cores that slows the failover more than the poll's 1 ms
%% granularity costs: 10+ ms against 8.)
failover_client(Home, OsPid, Parent) ->
    Sh = open_port({spawn_executable, "/bin/sh"}, [{args, ["-s"]}, exit_status, binary]),
    T0 = erlang:monotonic_time(microsecond),
    port_command(Sh, ["kill -9 ", integer_to_list(OsPid), "; exit\n"]),
    await_elsewhere(Home),
    T1 = erlang:monotonic_time(microsecond),
    receive {Sh, {exit_status, 0}} -> ok end,
    Parent ! {self(), T1 - T0}.

await_elsewhere(Home) ->
    wait_until(fun() -> answers_elsewhere(Home) end, {counter_off, Home}).

%% True when the global name counter names a process off Home whose read()
%% answers.
answers_elsewhere(Home) ->
    case global:whereis_name(counter) of
        Pid when is_pid(Pid), node(Pid) =/= Home ->
            try gen_server:call(Pid, read) of
                N when is_integer(N) -> true
            catch
                exit:_ -> false
            end;
        _ ->
            false
    end.
