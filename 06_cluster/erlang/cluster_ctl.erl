%% cluster_ctl.erl - 06_cluster: the members' start and the control node of
%% beam_demo (the Erlang original on three nodes).
%%
%% Each member node runs, at boot,
%%   erl -sname b@localhost ... -eval 'cluster_ctl:member([a@localhost, c@localhost])'
%% which connects to the nodes listed that are up, waits for global to
%% agree with them, and starts the node's counter:start_cluster() (it leads
%% when no node holds the global name counter, backs the leader up when one
%% does).
%%
%% beam_demo runs this module as a hidden node, once per step:
%%   erl -hidden -sname ctlN@localhost ... -run cluster_ctl main COMMAND ARG...
%% It prints what the step shows and halts with 0, or 1 after a line on
%% stderr saying what did not happen. Commands (NODE a node name, EXPR an
%% Erlang expression ending in '.'):
%%   eval NODE EXPR           evaluates EXPR on NODE, prints its value as the
%%                            shell would (or ** exception exit: Reason)
%%   wait_members NODE K      until NODE sees a leader and K backups
%%   leader NODE              prints the leader's node as NODE sees it
%%   kill_under CLIENT OSPID N
%%                            on CLIENT: reads the count, casts N tick(1),
%%                            kills OS process OSPID (the leader's node) with
%%                            kill -9 right after the last cast, waits for a
%%                            leader on another node to answer read(), and
%%                            prints what was sent, what the new leader
%%                            holds, and the ms since the kill
%% Every wait polls every ?POLL_MS and fails after ?DEADLINE_MS.
-module(cluster_ctl).
-export([main/1, member/1, kill_under/4]).

-define(DEADLINE_MS, 60000).
-define(POLL_MS, 1).
-define(RPC_MS, 10000).

%% ---- On a member node -----------------------------------------------------

%% Connects to those of Nodes that are up, syncs global with them, starts
%% this node's member; prints its role.
member(Nodes) ->
    [net_adm:ping(N) || N <- Nodes],
    ok = global:sync(),
    {ok, Pid} = counter:start_cluster(),
    Role = case global:whereis_name(counter) of
               Pid -> leader;
               _ -> backup
           end,
    io:format("~s: counter member ~p started as ~s~n", [node(), Pid, Role]).

%% ---- The control node -----------------------------------------------------

main(Args) ->
    Status = try run(Args) of
                 ok -> 0
             catch
                 throw:{fail, Fmt, FArgs} ->
                     io:format(standard_error, "beam_demo: " ++ Fmt ++ "~n", FArgs),
                     1
             end,
    halt(Status).

run(["eval", Node, Expr]) ->
    case rpc:call(list_to_atom(Node), erl_eval, exprs, [parse(Expr), []], ?RPC_MS) of
        {value, Value, _Bindings} -> io:format("~p~n", [Value]);
        {badrpc, {'EXIT', Reason}} -> io:format("** exception exit: ~p~n", [Reason]);
        {badrpc, Reason} -> throw({fail, "eval on ~s: ~p", [Node, Reason]})
    end;
run(["wait_members", Node, K]) ->
    N = list_to_atom(Node),
    Want = list_to_integer(K),
    wait(fun() ->
                 case rpc:call(N, gen_server_cluster, get_all_server_nodes, [counter], ?RPC_MS) of
                     {_Leader, Backups} when length(Backups) =:= Want -> true;
                     _ -> false
                 end
         end, "~s did not see a leader and ~s backups", [Node, K]);
run(["leader", Node]) ->
    case rpc:call(list_to_atom(Node), global, whereis_name, [counter], ?RPC_MS) of
        Pid when is_pid(Pid) -> io:format("~s~n", [node(Pid)]);
        Other -> throw({fail, "~s knows no leader: ~p", [Node, Other]})
    end;
run(["kill_under", Client, OsPid, N]) ->
    C = list_to_atom(Client),
    Ref = make_ref(),
    Self = self(),
    spawn_link(C, ?MODULE, kill_under, [Self, Ref, OsPid, list_to_integer(N)]),
    receive
        {Ref, {Before, Sent, After, NewLeader, Us}} ->
            io:format("count before: ~w; tick(1) casts sent: ~w; the leader killed right "
                      "after the last~n~s leads ~.1f ms after the kill, with count ~w: "
                      "~w of the ~w ticks lost~n",
                      [Before, Sent, NewLeader, Us / 1000, After, Before + Sent - After, Sent])
    after ?DEADLINE_MS -> throw({fail, "no new leader answered within ~w ms", [?DEADLINE_MS]})
    end;
run(Args) ->
    throw({fail, "cluster_ctl: unknown command ~p", [Args]}).

%% On the client node: the step kill_under, reported to Parent.
kill_under(Parent, Ref, OsPid, N) ->
    Old = global:whereis_name(counter),
    Before = counter:read(),
    Sh = open_port({spawn_executable, "/bin/sh"}, [{args, ["-s"]}, exit_status, binary]),
    [counter:tick(1) || _ <- lists:seq(1, N)],
    T0 = erlang:monotonic_time(microsecond),
    port_command(Sh, ["kill -9 ", OsPid, "; exit\n"]),
    {Pid, After} = await_new(node(Old), erlang:monotonic_time(millisecond) + ?DEADLINE_MS),
    Us = erlang:monotonic_time(microsecond) - T0,
    Parent ! {Ref, {Before, N, After, node(Pid), Us}}.

%% Until the global name counter is on a node other than Home and its
%% read() answers: {Pid, Count}.
await_new(Home, Deadline) ->
    Found = case global:whereis_name(counter) of
                Pid when is_pid(Pid), node(Pid) =/= Home ->
                    try gen_server:call(Pid, read) of
                        Count -> {Pid, Count}
                    catch
                        exit:_ -> none
                    end;
                _ -> none
            end,
    case Found of
        none ->
            erlang:monotonic_time(millisecond) < Deadline orelse exit(no_new_leader),
            timer:sleep(?POLL_MS),
            await_new(Home, Deadline);
        _ -> Found
    end.

parse(Expr) ->
    case erl_scan:string(Expr) of
        {ok, Tokens, _} ->
            case erl_parse:parse_exprs(Tokens) of
                {ok, Exprs} -> Exprs;
                {error, E} -> throw({fail, "cannot parse ~s: ~p", [Expr, E]})
            end;
        {error, E, _} -> throw({fail, "cannot scan ~s: ~p", [Expr, E]})
    end.

%% Polls Done every ?POLL_MS until it returns true; fails after ?DEADLINE_MS.
wait(Done, Fmt, Args) ->
    wait(Done, Fmt, Args, erlang:monotonic_time(millisecond) + ?DEADLINE_MS).

wait(Done, Fmt, Args, Deadline) ->
    case Done() of
        true -> ok;
        false ->
            erlang:monotonic_time(millisecond) < Deadline orelse
                throw({fail, Fmt ++ " within ~w ms", Args ++ [?DEADLINE_MS]}),
            timer:sleep(?POLL_MS),
            wait(Done, Fmt, Args, Deadline)
    end.
