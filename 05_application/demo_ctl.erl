%% demo_ctl.erl - 05_application: the control node of beam_demo.
%%
%% beam_demo runs it as a hidden node (it joins no global name space and
%% shows in no node's nodes()), once per step:
%%   erl -hidden -sname ctlN@localhost ... -run demo_ctl main COMMAND ARG...
%% It reaches a, b and c through rpc, prints what the step shows, and halts
%% with 0, or 1 after a line on stderr saying what did not happen.
%%
%% Commands (NODE a node name, EXPR an Erlang expression ending in '.'):
%%   eval NODE EXPR          evaluates EXPR on NODE, prints the value as the
%%                           shell would (or ** exception exit: Reason)
%%   wait_app NODE...        until counter:read() answers on every NODE
%%   wait_gone NODE          until NODE knows no global name counter
%%   wait_on CLIENT NODE T0  until CLIENT finds the counter on NODE and its
%%                           read() answers; prints the ms since T0 (the
%%                           system time in us, as date +%s%6N gives it)
%%   wait_stopped NODE       until the counter application no longer runs
%%                           on NODE
%% Every wait polls every 20 ms and fails after ?DEADLINE_MS; all but
%% wait_app (whose nodes are still booting) fail at once when the node they
%% ask is down.
-module(demo_ctl).
-export([main/1]).

-define(DEADLINE_MS, 60000).
-define(POLL_MS, 20).
-define(RPC_MS, 10000).

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
run(["wait_app" | Nodes]) ->
    Ns = [list_to_atom(N) || N <- Nodes],
    wait(fun() -> lists:all(fun(N) -> is_integer(rpc:call(N, counter, read, [], ?RPC_MS)) end, Ns) end,
         "the counter did not answer on every one of ~s", [lists:join(", ", Nodes)]);
run(["wait_gone", Node]) ->
    N = list_to_atom(Node),
    wait(fun() -> up(N, rpc:call(N, global, whereis_name, [counter], ?RPC_MS)) =:= undefined end,
         "~s still knows a global counter", [Node]);
run(["wait_on", Client, Node, T0]) ->
    C = list_to_atom(Client),
    N = list_to_atom(Node),
    wait(fun() ->
                 case up(C, rpc:call(C, global, whereis_name, [counter], ?RPC_MS)) of
                     Pid when is_pid(Pid), node(Pid) =:= N ->
                         is_integer(rpc:call(C, counter, read, [], ?RPC_MS));
                     _ -> false
                 end
         end, "~s did not find the counter on ~s", [Client, Node]),
    Ms = (os:system_time(microsecond) - list_to_integer(T0)) div 1000,
    io:format("~w~n", [Ms]);
run(["wait_stopped", Node]) ->
    N = list_to_atom(Node),
    wait(fun() ->
                 case up(N, rpc:call(N, application, which_applications, [], ?RPC_MS)) of
                     Apps when is_list(Apps) -> not lists:keymember(counter, 1, Apps);
                     _ -> false
                 end
         end, "the counter application still runs on ~s", [Node]);
run(Args) ->
    throw({fail, "demo_ctl: unknown command ~p", [Args]}).

%% An rpc's result, unless the node it went to is down: that fails the step
%% at once (the node an event is awaited on has died).
up(Node, {badrpc, nodedown}) -> throw({fail, "~s is down", [Node]});
up(_Node, Result) -> Result.

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
