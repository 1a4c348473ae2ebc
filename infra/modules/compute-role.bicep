// The custom role Curfew's identity holds on its target scopes: exactly the compute actions
// Curfew calls (list workspaces and computes, start, stop, restart, set idle shutdown).
targetScope = 'subscription'

@description('Display name of the role (unique per tenant).')
param roleName string

@description('Scopes where the role may be assigned (subscriptions and resource groups).')
param assignableScopes array

resource role 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, roleName)
  properties: {
    roleName: roleName
    description: 'Curfew: read Azure ML workspaces and compute instances; start, stop, restart them; set their idle shutdown.'
    type: 'CustomRole'
    assignableScopes: assignableScopes
    permissions: [
      {
        actions: [
          'Microsoft.MachineLearningServices/workspaces/read'
          'Microsoft.MachineLearningServices/workspaces/computes/read'
          'Microsoft.MachineLearningServices/workspaces/computes/start/action'
          'Microsoft.MachineLearningServices/workspaces/computes/stop/action'
          'Microsoft.MachineLearningServices/workspaces/computes/restart/action'
          'Microsoft.MachineLearningServices/workspaces/computes/updateIdleShutdownSetting/action'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
  }
}

output roleDefinitionId string = role.id
