/**
 * The parts of argo-server's REST API (argoproj/argo-workflows `api/openapi-spec/swagger.json`,
 * `pkg/apiclient/workflow/workflow.proto`) the Argo target sends and reads. Only what stepgate
 * uses is typed; everything else in a Workflow is ignored.
 */

/** `io.argoproj.workflow.v1alpha1.SubmitOpts`: only the options stepgate sets. */
export interface SubmitOptions {
  readonly name: string;
  /** Omitted: the template's own `spec.entrypoint` runs. */
  readonly entryPoint?: string;
  /** `NAME=VALUE`, split by argo-server at the first `=`. */
  readonly parameters: readonly string[];
  /** `KEY=VALUE,KEY=VALUE` (argo-server's `ParseLabels`: no `,` or `=` inside keys or values). */
  readonly labels: string;
}

/** `io.argoproj.workflow.v1alpha1.WorkflowSubmitRequest` (`POST /api/v1/workflows/{namespace}/submit`). */
export interface SubmitRequest {
  readonly namespace: string;
  readonly resourceKind: 'WorkflowTemplate' | 'ClusterWorkflowTemplate';
  readonly resourceName: string;
  readonly submitOptions: SubmitOptions;
}

export interface WorkflowParameter {
  readonly name: string;
  readonly value?: string;
}

/** `io.argoproj.workflow.v1alpha1.Workflow`, the fields stepgate reads. */
export interface Workflow {
  readonly metadata: {
    readonly name: string;
    readonly namespace: string;
    readonly uid?: string;
    readonly creationTimestamp?: string;
    readonly labels?: Readonly<Record<string, string>>;
  };
  readonly spec?: {
    readonly arguments?: { readonly parameters?: readonly WorkflowParameter[] };
  };
  readonly status?: {
    /** `""` until the controller sees it, then Pending, Running, Succeeded, Failed or Error. */
    readonly phase?: string;
    readonly startedAt?: string | null;
    readonly finishedAt?: string | null;
    readonly message?: string;
    readonly progress?: string;
    readonly outputs?: {
      readonly parameters?: readonly WorkflowParameter[];
      readonly artifacts?: readonly { readonly name: string }[];
    };
  };
}

/** `io.argoproj.workflow.v1alpha1.WorkflowList`: `items` is `null` when there are none. */
export interface WorkflowList {
  readonly items: readonly Workflow[] | null;
}
